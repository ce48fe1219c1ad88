"""Report generation over a large fleet against a real Prometheus: N series (default 10,000)
forecast by one target with a capacity, N cost series, N recommendations' worth of resources,
with a week of hourly history; then ``promcast-forecaster report`` (HTML and PDF) for that week
in its own process, timed, with its peak RSS. Run it for two fleet sizes to see that the time
and memory of a report do not grow with the fleet (it ranks and aggregates in PromQL and draws
a fixed number of plots).

    .venv/bin/python benchmarks/report_fleet.py [--series 10000] [--series 1000] [--no-pdf]

Needs the Debian packages prometheus (with promtool) and chromium; skips with a message otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.stack import free_port, prometheus_argv, spawn, terminate  # noqa: E402

ANCHOR = dt.datetime(2026, 3, 20, tzinfo=dt.timezone.utc).timestamp()  # fixed: reproducible
METRIC = "fleet_disk_utilization_ratio"
HORIZONS = (("1d", 86400), ("3d", 3 * 86400), ("7d", 7 * 86400))
LEVELS = (80, 95)


def _lines(
    name: str, labels: list[str], values: np.ndarray, stamp: int, kind: str = "gauge"
) -> str:
    return f"# TYPE {name} {kind}\n" + "".join(
        f"{name}{{{lab}}} {v!r} {stamp}\n" for lab, v in zip(labels, values.tolist())
    )


def write_fleet(path: Path, n: int, days: float = 8) -> int:
    """A week of hourly history for N utilisation and N cost series, and what the forecaster
    publishes for each of the N series at the anchor."""
    rng = np.random.default_rng(7)
    step = 3600.0
    t = np.arange(ANCHOR - days * 86400, ANCHOR - 59, step)
    stamps = [str(int(x)) for x in t]
    level = rng.uniform(0.2, 0.8, n)
    growth = rng.uniform(0.0, 0.01, n)  # per day
    samples = 0
    hosts = [
        f'host="h{i:05d}",provider="aws",account="a{i % 20}",region="r1",workload="w{i % 50}",'
        f'resource_id="h{i:05d}"'
        for i in range(n)
    ]
    with open(path, "w") as out:
        out.write(f"# TYPE {METRIC} gauge\n")
        days_to_end = (t - ANCHOR) / 86400
        for i in range(n):
            y = np.clip(
                level[i] + growth[i] * days_to_end + 0.01 * np.sin(2 * np.pi * t / 86400), 0, 1
            )
            out.write(
                "".join(f"{METRIC}{{{hosts[i]}}} {v:.4f} {s}\n" for v, s in zip(y.tolist(), stamps))
            )
        samples += n * len(t)
        out.write("# TYPE promcast_cost_hourly_rate_usd gauge\n")
        for i in range(n):
            lab = (
                f'provider="{("aws", "gcp", "azure")[i % 3]}",billing_account="b{i % 67}",'
                f'sub_account="",service="svc{i % 50}",region="r1",charge_category="usage",'
                f'cost_type="billed"'
            )
            y = rng.uniform(0.01, 0.2) * (1 + 0.1 * np.sin(2 * np.pi * t / 86400))
            out.write(
                "".join(
                    f"promcast_cost_hourly_rate_usd{{{lab}}} {v:.5f} {s}\n"
                    for v, s in zip(y.tolist(), stamps)
                )
            )
        samples += n * len(t)
        # The forecaster's results at the anchor, one series per host.
        stamp = int(ANCHOR - 60)
        base = [f'target="disk",{h}' for h in hosts]
        now = level + growth * 0
        exhaustion = np.where(
            growth > 0.002, (0.9 - now) / np.maximum(growth, 1e-9) * 86400, np.inf
        )
        exhaustion = np.where(now >= 0.9, 0, exhaustion)
        out.write(_lines("promcast_forecast_observed", base, now, stamp))
        out.write(_lines("promcast_forecast_capacity", base, np.full(n, 0.9), stamp))
        out.write(
            _lines("promcast_forecast_exhaustion_seconds", base, exhaustion, stamp).replace(
                " inf ", " +Inf "
            )
        )
        out.write(_lines("promcast_forecast_backtest_mase", base, rng.uniform(0.3, 1.4, n), stamp))
        out.write(
            _lines(
                "promcast_forecast_model_info",
                [f'{b},model="seasonal_naive_drift",reason="configured"' for b in base],
                np.ones(n),
                stamp,
            )
        )
        out.write("# TYPE promcast_forecast_mean gauge\n")
        for h, secs in HORIZONS:
            out.write(
                _lines(
                    "promcast_forecast_mean",
                    [f'{b},horizon="{h}"' for b in base],
                    now + growth * secs / 86400,
                    stamp,
                ).split("\n", 1)[1]
            )
        for side, sign in (("lower", -1), ("upper", 1)):
            out.write(f"# TYPE promcast_forecast_{side} gauge\n")
            for h, secs in HORIZONS:
                for lv in LEVELS:
                    out.write(
                        _lines(
                            f"promcast_forecast_{side}",
                            [f'{b},horizon="{h}",level="{lv}"' for b in base],
                            now + growth * secs / 86400 + sign * lv / 2000,
                            stamp,
                        ).split("\n", 1)[1]
                    )
        out.write("# TYPE promcast_forecast_backtest_coverage_ratio gauge\n")
        for lv in LEVELS:
            out.write(
                _lines(
                    "promcast_forecast_backtest_coverage_ratio",
                    [f'{b},level="{lv}"' for b in base],
                    rng.uniform(0.6, 1, n),
                    stamp,
                ).split("\n", 1)[1]
            )
        out.write(
            _lines(
                "promcast_target_lead_time_seconds",
                ['target="disk"'],
                np.array([7 * 86400.0]),
                stamp,
            )
        )
        recs = [f'kind="rightsizing",action="downsize",{h}' for h in hosts]
        out.write(
            _lines(
                "promcast_recommendation_monthly_saving_usd", recs, rng.uniform(1, 300, n), stamp
            )
        )
        out.write(
            _lines("promcast_recommendation_confidence_ratio", recs, rng.uniform(0.3, 1, n), stamp)
        )
        samples += n * (5 + len(HORIZONS) * (1 + 2 * len(LEVELS)) + len(LEVELS) + 2)
        out.write("# EOF\n")
    return samples


def run(n: int, pdf: bool, workdir: Path) -> dict:
    om, data = workdir / "fleet.om", workdir / "data"
    t0 = time.monotonic()
    samples = write_fleet(om, n)
    t_write = time.monotonic() - t0
    t0 = time.monotonic()
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=720h",
            str(om),
            str(data),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    t_blocks = time.monotonic() - t0
    om.unlink()
    port = free_port()
    (workdir / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": []}))
    prom = spawn(
        workdir,
        "prometheus",
        prometheus_argv(workdir / "prometheus.yml", data, port),
        f"http://127.0.0.1:{port}/-/ready",
        120,
    )
    try:
        cfg = workdir / "forecaster.yml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "prometheus": {"url": f"http://127.0.0.1:{port}", "timeout": "2m"},
                    "targets": [
                        {
                            "name": "disk",
                            "query": METRIC,
                            "step": "1h",
                            "history": "7d",
                            "capacity": 0.9,
                            "lead_time": "7d",
                            "horizons": ["1d", "3d", "7d"],
                        }
                    ],
                }
            )
        )
        # The report's own peak RSS (Python: queries, model, plots) and its largest child's
        # (the browser), as the report process itself sees them.
        wrapper = (
            "import resource, sys; from promcast_forecaster.cli import main; rc = main(sys.argv[1:]); "
            "print('rss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(rc)"
        )
        argv = [
            sys.executable,
            "-c",
            wrapper,
            "--config.file",
            str(cfg),
            "--log.level",
            "warn",
            "report",
            "--since",
            "7d",
            "--until",
            dt.datetime.fromtimestamp(ANCHOR, dt.timezone.utc).isoformat(),
            "--out",
            str(workdir / "report.html"),
        ]
        if not pdf:
            argv.append("--no-pdf")
        t0 = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
        t_report = time.monotonic() - t0
        if done.returncode != 0:
            raise SystemExit(f"report failed: {done.stderr[-2000:]}")
        rss = [ln.split() for ln in done.stderr.splitlines() if ln.startswith("rss ")][-1]
    finally:
        terminate([prom])
    html = (workdir / "report.html").read_text()
    return {
        "series": n,
        "samples": samples,
        "write_s": round(t_write, 1),
        "blocks_s": round(t_blocks, 1),
        "report_s": round(t_report, 1),
        "report_peak_rss_mb": round(int(rss[1]) / 1024),
        "browser_peak_rss_mb": round(int(rss[2]) / 1024),
        "images": html.count('src="data:image/png'),
        "html_kb": round(len(html) / 1024),
        "notes": done.stderr.count("note:"),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--series", type=int, action="append", help="fleet size (repeatable; default 10000)"
    )
    p.add_argument("--no-pdf", dest="pdf", action="store_false")
    args = p.parse_args()
    missing = [b for b in ("prometheus", "promtool", "chromium") if shutil.which(b) is None]
    if missing:
        print(f"skipped: {', '.join(missing)} not installed", file=sys.stderr)
        return 0
    rows = []
    for n in args.series or [10000]:
        with tempfile.TemporaryDirectory(prefix="promcast-report-bench-") as tmp:
            rows.append(run(n, args.pdf, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
