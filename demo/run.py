"""``make demo``: the whole stack on 127.0.0.1 with the demo fleet, a terminal summary, and the
notifications Alertmanager delivers, until Ctrl-C."""

from __future__ import annotations

import argparse
import math
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.stack import Stack, missing_binaries

SUMMARY_DEADLINE = 110.0


def human(seconds: float) -> str:
    if math.isinf(seconds):
        return "not within the horizon"
    d, rem = divmod(int(seconds), 86400)
    h, rem = divmod(rem, 3600)
    return f"{d}d {h}h" if d else f"{h}h {rem // 60}m"


def say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def summary(stack: Stack) -> str:
    lines = ["", "=" * 78, "promcast demo: summary", "=" * 78]
    targets = stack.query('promcast_forecaster_target_series{state="forecast"}')
    lines.append("Targets forecast:")
    for r in sorted(targets, key=lambda r: r["metric"]["target"]):
        lines.append(f"  {r['metric']['target']:<22} {int(float(r['value'][1])):>3} series")
    lines.append("Closest to exhaustion:")
    closest = stack.query("bottomk(5, promcast_forecast_exhaustion_seconds)")
    for r in sorted(closest, key=lambda r: float(r["value"][1])):
        m = r["metric"]
        who = m.get("resource_id") or ",".join(f"{k}={v}" for k, v in m.items() if k != "target")
        lines.append(f"  {m['target']:<22} {who:<14} {human(float(r['value'][1]))}")
    alerts = stack.firing_alerts()
    lines.append(f"Alerts firing: {len(alerts)}")
    for a in alerts:
        lab = a["labels"]
        lines.append(
            f"  {lab['alertname']} [{lab.get('severity')}] target={lab.get('target')} "
            f"resource={lab.get('resource_id', '-')}"
        )
    lines += [
        "",
        f"Prometheus    {stack.url('prometheus')}  (try: promcast_forecast_exhaustion_seconds)",
        f"Alertmanager  {stack.url('alertmanager')}",
        f"Exporter      {stack.url('exporter')}/metrics",
        f"Forecaster    {stack.url('forecaster')}/metrics",
        f"Logs          {stack.workdir}",
        "=" * 78,
        "Notifications delivered to the webhook sink follow. Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def write_report(stack: Stack) -> str:
    """The capacity and cost report of the last week, from the live stack's Prometheus, with
    the forecaster's own config; the line to print (the files, or why there are none)."""
    out = stack.workdir / "report" / "promcast-report.html"
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "promcast_forecaster",
                "--config.file",
                str(stack.workdir / "forecaster.yml"),
                "--log.level",
                "warn",
                "report",
                "--since",
                "7d",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        return "report: not written within 5 minutes"
    if done.returncode != 0:
        return (
            f"report: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'failed'}"
        )
    return "Report        " + "  ".join(done.stdout.split())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workdir", help="where data and logs go (default: a new temporary directory)")
    args = p.parse_args()
    missing = missing_binaries()
    if missing:
        say(
            f"missing {', '.join(missing)}: install the Debian packages prometheus and "
            "prometheus-alertmanager, or run the stack with `docker-compose up` instead"
        )
        return 1
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="promcast-demo-"))
    stack = Stack(workdir)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    try:
        stack.start(progress=say)
        say("stack up; waiting for the first forecasts and alerts")
        while not stopping and time.monotonic() - started < SUMMARY_DEADLINE:
            if stack.firing_alerts():
                break
            time.sleep(2)
        if stopping:
            return 0
        print(summary(stack), flush=True)
        say("writing the capacity and cost report of the last week")
        print(write_report(stack), flush=True)
        seen = 0
        while not stopping:
            notes = stack.notifications()
            for n in notes[seen:]:
                # The sink summarises each integration's payload (webhook, PagerDuty, ...).
                for line in n.get("summary", []):
                    say(
                        f"notification -> {n['receiver']} ({n.get('integration', 'webhook')}): {line}"
                    )
            seen = len(notes)
            time.sleep(1)
    finally:
        say("stopping everything this demo started")
        stack.stop()
        say(f"stopped; logs kept in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
