"""A demo fleet's past as Prometheus would hold it at a fixed instant: the exporter's history
(``promcast-exporter backfill``) and what the forecaster would have published at that instant
(its cycles replayed there), both as OpenMetrics for ``promtool tsdb create-blocks-from``.

Reports, their tests and the README's screenshot read this, so they never depend on the clock:
the same anchor gives the same pictures."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# A fixed "now" for reproducible reports (a Friday; the month is well under way).
ANCHOR = dt.datetime(2026, 3, 20, tzinfo=dt.timezone.utc).timestamp()
PROVIDERS = ("aws", "azure", "gcp")  # those of the demo fleet
WEEK = 7 * 86400
APPLIED = (
    'account="111111111111",action="stop",kind="idle",provider="aws",region="us-east-1",'
    'resource_id="batch-old",workload="batch"'
)
LABELS = {"job": "promcast-exporter", "instance": "promcast-exporter"}


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def exporter_history(workdir: Path, anchor: float, days: float, out: Path) -> None:
    """The demo provider's series from ``anchor - days`` to ``anchor`` (5-minute samples)."""
    cfg = workdir / "exporter-history.yml"
    cfg.write_text(yaml.safe_dump({"providers": {"demo": {"anchor": anchor}}}))
    labels = [a for k, v in LABELS.items() for a in ("--label", f"{k}={v}")]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "promcast_exporter",
            "--config.file",
            str(cfg),
            "--log.level",
            "warn",
            "backfill",
            "--since",
            iso(anchor - days * 86400),
            "--until",
            iso(anchor),
            "--out",
            str(out),
            *labels,
        ],
        check=True,
        cwd=ROOT,
    )


def forecaster_config(prometheus_url: str) -> dict:
    """The demo's forecaster config reading ``prometheus_url``, with a growth scenario on the disk
    target. Recommendations use the seasonal naive model with drift instead of ``auto``:
    choosing among models over 14 days of every resource takes minutes, and a report's history
    needs plausible numbers, not the best ones."""
    cfg = yaml.safe_load((ROOT / "demo" / "forecaster.yml").read_text())
    cfg["prometheus"]["url"] = prometheus_url
    for part in ("rightsizing", "commitments"):
        cfg["recommendations"].setdefault(part, {})["model"] = "seasonal_naive_drift"
    # A what-if for the report's order-by dates: the log volume growing 30% a month.
    for target in cfg["targets"]:
        if target["name"] == "disk_usage":
            target["scenarios"] = [{"name": "growth_30pct", "trend_per_month": 0.3}]
    return cfg


async def _replay(prometheus_url: str, at: float) -> list:
    import aiohttp

    from promcast_common.config import validate
    from promcast_forecaster.config import ForecasterConfig
    from promcast_forecaster.service import Forecaster
    from promcast_forecaster.source import PrometheusSource

    cfg = validate(ForecasterConfig, forecaster_config(prometheus_url), "demo/forecaster.yml")
    fc = Forecaster(cfg)
    async with aiohttp.ClientSession() as session:
        source = PrometheusSource.from_config(cfg.prometheus, session)
        for target in fc.targets:
            await fc.run_cycle(target, source, at=at)
        for budget in cfg.budgets:
            await fc.run_budget_cycle(budget, source, at=at)
        if cfg.recommendations:
            await fc.run_recommendations_cycle(source, at=at)
    for health in fc.health.values():  # as if the cycles had run at `at`
        health.last_success = at if health.up else health.last_success
    return list(fc.collect())


def published_results(prometheus_url: str, at: float, out: Path, down: tuple[str, ...] = ()) -> int:
    """Run every demo target, budget and the recommendations as at ``at`` against the Prometheus
    holding the exporter's history, and write what the forecaster would publish, stamped a
    minute before ``at`` (backfill takes past samples only), with the exporter's refresh health
    (the providers in ``down`` failing). +Inf values (no exhaustion within the horizon) are
    kept: they are what the forecaster publishes."""
    families = asyncio.run(_replay(prometheus_url, at))
    stamp = int(at - 60)
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for name, value in (
            ("promcast_exporter_refresh_success", lambda p: float(p not in down)),
            (
                "promcast_exporter_last_refresh_success_timestamp_seconds",
                lambda p: at - (86400 if p in down else 120),
            ),
        ):
            fh.write(f"# TYPE {name} gauge\n")
            fh.writelines(f'{name}{{provider="{p}"}} {value(p)!r} {stamp}\n' for p in PROVIDERS)
            n += len(PROVIDERS)
        # A week earlier the recommendations also offered to stop an idle host that has been
        # stopped since: a report of that week counts its saving as applied.
        fh.write(
            "# TYPE promcast_recommendation_monthly_saving_usd gauge\n"
            f"promcast_recommendation_monthly_saving_usd{{{APPLIED}}} 61.32 {int(at - WEEK - 600)}\n"
        )
        n += 1
        for fam in families:
            if fam.name == "promcast_forecaster_cycle_duration_seconds":
                continue
            fh.write(f"# TYPE {fam.name} {'counter' if fam.type == 'counter' else 'gauge'}\n")
            for s in fam.samples:
                if math.isnan(s.value):
                    continue
                value = (
                    ("+Inf" if s.value > 0 else "-Inf") if math.isinf(s.value) else repr(s.value)
                )
                labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
                fh.write(
                    f"{s.name}{{{labels}}} {value} {stamp}\n"
                    if labels
                    else f"{s.name} {value} {stamp}\n"
                )
                n += 1
        fh.write("# EOF\n")
    return n


def _escape(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class HistoryPrometheus:
    """A Prometheus on 127.0.0.1 holding the demo fleet's history up to ``anchor`` and the
    forecaster's results at ``anchor``: the data a report of the week before ``anchor`` reads."""

    def __init__(
        self, workdir: Path, anchor: float = ANCHOR, days: float = 15, down: tuple[str, ...] = ()
    ) -> None:
        self.workdir, self.anchor, self.days, self.down = workdir, anchor, days, down
        self.proc = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _blocks(self, openmetrics: Path) -> None:
        subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--max-block-duration=720h",
                str(openmetrics),
                str(self.workdir / "data"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        openmetrics.unlink()

    def _spawn(self) -> None:
        from demo.stack import prometheus_argv, spawn

        self.proc = spawn(
            self.workdir,
            "prometheus",
            prometheus_argv(self.workdir / "prometheus.yml", self.workdir / "data", self.port),
            f"{self.url}/-/ready",
            60,
        )

    def start(self) -> "HistoryPrometheus":
        from demo.stack import free_port

        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "prometheus.yml").write_text(
            yaml.safe_dump({"global": {"scrape_interval": "1m"}, "scrape_configs": []})
        )
        exporter_history(self.workdir, self.anchor, self.days, self.workdir / "exporter.om")
        self._blocks(self.workdir / "exporter.om")
        self.port = free_port()
        self._spawn()
        try:
            published_results(self.url, self.anchor, self.workdir / "forecaster.om", self.down)
            # A running Prometheus picks up new blocks only at its next compaction: restart it.
            self.stop()
            self._blocks(self.workdir / "forecaster.om")
            self._spawn()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        from demo.stack import terminate

        if self.proc is not None:
            terminate([self.proc])
            self.proc = None
