"""``promcast-exporter``: serve cost, utilisation and inventory metrics, or write their history."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

import numpy as np
from prometheus_client import CollectorRegistry

from exporter import __version__
from exporter.config import ExporterConfig
from exporter.core.catalogue import Families
from exporter.core.cli import base_parser, load_or_exit, start_logging
from exporter.core.collector import Provider, SnapshotCollector
from exporter.core.durations import parse_duration
from exporter.core.http import make_app, serve
from exporter.core.openmetrics import write_openmetrics
from exporter.providers.demo.provider import DemoProvider, samples as demo_samples

log = logging.getLogger("promcast.exporter")
DEFAULT_LISTEN = "127.0.0.1:9184"


def build_providers(cfg: ExporterConfig) -> list[Provider]:
    providers: list[Provider] = []
    if cfg.providers.demo.enabled:
        providers.append(DemoProvider(cfg.providers.demo.refresh_interval,
                                      cfg.providers.demo.anchor_or_default()))
    return providers


class _BuildInfo:
    def collect(self):  # noqa: ANN201 - prometheus_client collector protocol
        out = Families()
        out.add("promcast_build_info", {"component": "exporter", "version": __version__}, 1)
        return iter(out)


def _serve(args: argparse.Namespace, cfg: ExporterConfig) -> int:
    providers = build_providers(cfg)
    if not providers:
        log.warning("no provider is enabled; only self-monitoring series will be exposed")
    collector = SnapshotCollector(providers)
    registry = CollectorRegistry()
    registry.register(collector)
    registry.register(_BuildInfo())
    app = make_app(registry, "promcast exporter", collector.ready)
    log.info("starting", extra={"version": __version__,
                                "providers": ",".join(p.name for p in providers) or "none"})
    asyncio.run(serve(app, args.listen_address, collector.run))
    return 0


def _backfill(args: argparse.Namespace, cfg: ExporterConfig) -> int:
    step = parse_duration(args.step)
    end = (time.time() // step) * step - step  # strictly in the past: see DESIGN.md
    start = end - args.days * 86400
    t = np.arange(start, end + 1, step)
    if not cfg.providers.demo.enabled:
        print("error: no enabled provider has history to backfill", file=sys.stderr)
        return 2
    anchor = cfg.providers.demo.anchor_or_default()
    log.info("writing history", extra={"provider": "demo", "days": args.days,
                                       "step_s": step, "points": len(t), "out": args.out})
    extra = dict(args.label)
    series = ((name, {**lab, **extra}, t, v) for name, lab, v in demo_samples(anchor, t))
    with (sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")) as out:
        n = write_openmetrics(series, out)
    log.info("history written", extra={"samples": n, "out": args.out})
    if args.out != "-":
        print(f"wrote {n} samples to {args.out}; load them with:\n"
              f"  promtool tsdb create-blocks-from openmetrics {args.out} DATA_DIR", file=sys.stderr)
    return 0


def _label(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parser() -> argparse.ArgumentParser:
    p = base_parser("promcast-exporter", "Cloud cost, utilisation and inventory metrics for "
                    "Prometheus.", DEFAULT_LISTEN, __version__)
    sub = p.add_subparsers(dest="command", metavar="{serve,backfill}")
    sub.add_parser("serve", help="serve /metrics (the default)")
    b = sub.add_parser("backfill", help="write past samples as OpenMetrics for promtool")
    b.add_argument("--days", type=float, default=28, help="how many days of history (default 28)")
    b.add_argument("--step", default="5m", help="spacing of the samples (default 5m)")
    b.add_argument("--out", required=True, help="output file, or - for stdout")
    b.add_argument("--label", action="append", default=[], type=_label, metavar="NAME=VALUE",
                   help="add a label to every series, e.g. the job and instance labels your "
                        "scrape config gives the exporter, so history and live data are one series")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    start_logging(args)
    cfg = load_or_exit(ExporterConfig, args.config_file)
    if args.command == "backfill":
        return _backfill(args, cfg)
    return _serve(args, cfg)


if __name__ == "__main__":
    sys.exit(main())
