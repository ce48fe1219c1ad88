"""``promcast-exporter``: serve cost, utilisation and inventory metrics, or write their history."""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import math
import sys
import time

from prometheus_client import CollectorRegistry

from promcast_exporter import __version__
from promcast_exporter.config import ExporterConfig
from promcast_exporter.billing.ledger import BillingFileProvider
from promcast_common.catalogue import Families
from promcast_common.cli import base_parser, load_or_exit, serve_or_exit, start_logging, web_limits
from promcast_common.collector import Provider, SnapshotCollector
from promcast_common.config import load_config
from promcast_common.durations import parse_duration, parse_when
from promcast_common.http import make_app, serve
from promcast_common.openmetrics import write_openmetrics
from promcast_common.reload import Reloader
from promcast_exporter.providers.azure.provider import AzureExportProvider
from promcast_exporter.providers.cur.provider import CurProvider
from promcast_exporter.providers.demo.provider import DemoProvider
from promcast_exporter.providers.focus.provider import FocusProvider
from promcast_exporter.providers.gcp.provider import GcpBillingProvider, GcpMonitoringProvider

log = logging.getLogger("promcast.exporter")
DEFAULT_LISTEN = "127.0.0.1:9184"


def build_providers(cfg: ExporterConfig) -> list[Provider]:
    p = cfg.providers
    providers: list[Provider] = []
    if p.demo_on():
        providers.append(DemoProvider(p.demo.refresh_interval, p.demo.anchor_or_default()))
    if p.focus.enabled:
        providers.append(
            FocusProvider(
                p.focus.refresh_interval, p.focus.paths, p.focus.dimensions, p.focus.tag_keys
            )
        )
    if p.cur.enabled:
        providers.append(CurProvider(p.cur.refresh_interval, p.cur.paths, p.cur.cost_types))
    if p.gcp.enabled:
        providers.append(
            GcpMonitoringProvider(
                p.gcp.refresh_interval,
                p.gcp.projects,
                step=p.gcp.step,
                lookback=p.gcp.lookback,
                groups=p.gcp.metrics,
                workload_label=p.gcp.workload_label,
                timeout=p.gcp.timeout,
                page_size=p.gcp.page_size,
            )
        )
    if p.gcp.billing.enabled:
        b = p.gcp.billing
        providers.append(GcpBillingProvider(b.refresh_interval, b.paths, b.dimensions, b.tag_keys))
    if p.azure.enabled:
        providers.append(
            AzureExportProvider(
                p.azure.refresh_interval, p.azure.paths, p.azure.dimensions, p.azure.tag_keys
            )
        )
    if p.aws.enabled:
        # boto3 only for those who enable the provider (the promcast[aws] extra).
        from promcast_exporter.providers.aws.provider import AwsProvider

        providers.append(AwsProvider(p.aws))
    if p.openstack.enabled:
        # openstacksdk only for those who enable the provider (the promcast[openstack] extra).
        from promcast_exporter.providers.openstack.provider import OpenStackProvider
        from promcast_exporter.providers.openstack.regions import CloudSpec

        o = p.openstack
        providers.append(
            OpenStackProvider(
                o.refresh_interval,
                [CloudSpec(c.cloud, tuple(c.regions)) for c in o.clouds],
                config_file=o.config_file,
                capacity_api=o.capacity_api,
                hypervisors=o.hypervisors,
                projects=o.projects,
                project_names=o.project_names,
                volume_quotas=o.volume_quotas,
                timeout=o.timeout,
            )
        )
    return providers


class Exporter:
    """The providers of the running config behind one collector; a reload swaps in the
    providers of the new config. They refresh at once, so a reload calls billed APIs again."""

    def __init__(self, cfg: ExporterConfig) -> None:
        self.cfg = cfg
        self.collector = self._collector(cfg)
        self._generation = 0
        self._swapped = asyncio.Event()

    @staticmethod
    def _collector(cfg: ExporterConfig) -> SnapshotCollector:
        providers = build_providers(cfg)
        if not providers:
            log.warning("no provider is enabled; only self-monitoring series will be exposed")
        return SnapshotCollector(providers)

    def apply(self, cfg: ExporterConfig) -> None:
        if cfg == self.cfg:
            log.info("config unchanged; the providers keep running")
            return
        self.cfg, self.collector = cfg, self._collector(cfg)
        self._generation += 1
        self._swapped.set()
        log.info("providers replaced", extra={"providers": self.provider_names()})

    def provider_names(self) -> str:
        return ",".join(p.name for p in self.collector.providers) or "none"

    def version(self) -> tuple[int, int]:
        return self._generation, self.collector.version

    def ready(self) -> tuple[bool, str]:
        return self.collector.ready()

    def collect(self):  # prometheus_client collector protocol
        out = Families()
        out.add("promcast_build_info", {"component": "exporter", "version": __version__}, 1)
        yield from out
        yield from self.collector.collect()

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh the current providers until ``stop``; after a swap, the new ones."""
        while not stop.is_set():
            self._swapped.clear()
            epoch = asyncio.Event()
            task = asyncio.ensure_future(self.collector.run(epoch))
            waits = [asyncio.ensure_future(e.wait()) for e in (stop, self._swapped)]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            epoch.set()
            await task  # a refresh in flight finishes; its provider is dropped after


def _serve(args: argparse.Namespace, cfg: ExporterConfig) -> int:
    exporter = Exporter(cfg)
    reloader = Reloader(
        lambda: load_config(ExporterConfig, args.config_file), exporter.apply, args.enable_lifecycle
    )
    registry = CollectorRegistry()
    registry.register(exporter)
    registry.register(reloader)
    app = make_app(
        registry,
        "promcast exporter",
        exporter.ready,
        lambda: (exporter.version(), reloader.last_ok),
    )
    reloader.add_routes(app)
    log.info("starting", extra={"version": __version__, "providers": exporter.provider_names()})
    return serve_or_exit(
        serve(app, args.listen_address, reloader.with_signal(exporter.run), web_limits(args)),
        args.listen_address,
    )


def _check(args: argparse.Namespace, cfg: ExporterConfig) -> int:
    names = [p.name for p in build_providers(cfg)]
    print(f"{args.config_file or '<defaults>'}: OK, providers: {', '.join(names) or 'none'}")
    return 0


def _window(args: argparse.Namespace, step: float, now: float) -> tuple[float, float]:
    # Strictly in the past: the current step is still filling up, and backfilled history must
    # hold no sample stamped in the future.
    end = (now // step) * step - step
    if args.until is not None:
        end = min(end, (parse_when(args.until, now) // step) * step)
    if args.since is not None:
        return math.ceil(parse_when(args.since, now) / step) * step, end
    return end - (28 if args.days is None else args.days) * 86400, end


def _backfill(args: argparse.Namespace, cfg: ExporterConfig) -> int:
    step = parse_duration(args.step)
    try:
        start, end = _window(args, step, time.time())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    extra = dict(args.label)
    series: list = []
    done, failed = [], []
    for provider in build_providers(cfg):
        # Each provider's history is gathered whole, so one that fails adds nothing half-done
        # and the others' history is still written.
        before = len(series)
        try:
            history = provider.history(start, end, step)
            if history is None:
                log.info("provider has no history", extra={"provider": provider.name})
                continue
            series.extend((name, {**lab, **extra}, t, v) for name, lab, t, v in history)
        except Exception as exc:  # noqa: BLE001 - one provider must not stop the others
            del series[before:]
            failed.append(provider.name)
            log.error(
                "history failed; writing the other providers' history",
                extra={"provider": provider.name, "err": repr(exc)},
            )
            continue
        done.append(provider.name)
        log.info(
            "history gathered",
            extra={
                "provider": provider.name,
                "series": len(series) - before,
                "start": start,
                "end": end,
                "step_s": step,
            },
        )
    if not done and not failed:
        print("error: no enabled provider has history to backfill", file=sys.stderr)
        return 2
    with sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8") as out:
        n = write_openmetrics(series, out)
    log.info(
        "history written",
        extra={
            "samples": n,
            "out": args.out,
            "providers": ",".join(done),
            "failed": ",".join(failed),
        },
    )
    if args.out != "-":
        print(
            f"wrote {n} samples to {args.out}; load them with:\n"
            f"  promtool tsdb create-blocks-from openmetrics {args.out} DATA_DIR",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _bad_rows(cfg: ExporterConfig) -> int:
    """Every bad row of the enabled billing-file providers as CSV on stdout."""
    billing = [p for p in build_providers(cfg) if isinstance(p, BillingFileProvider)]
    if not billing:
        print(
            "error: no billing-file provider (focus, cur, azure, gcp.billing) is enabled",
            file=sys.stderr,
        )
        return 2
    out = csv.writer(sys.stdout)
    out.writerow(["provider", "file", "line", "reason", "detail"])
    for provider in billing:
        for row in provider.bad_rows():
            out.writerow([provider.name, *row])
    return 0


def _label(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parser() -> argparse.ArgumentParser:
    p = base_parser(
        "promcast-exporter",
        "Cloud cost, utilisation and inventory metrics for Prometheus.",
        DEFAULT_LISTEN,
        __version__,
    )
    sub = p.add_subparsers(dest="command", metavar="{serve,check-config,backfill,bad-rows}")
    sub.add_parser("serve", help="serve /metrics (the default)")
    sub.add_parser(
        "check-config",
        help="validate --config.file and exit (2 and every problem "
        "with its key path when it is not valid)",
    )
    sub.add_parser(
        "bad-rows",
        help="list every bad row of the billing files as CSV (provider, "
        "file, line, reason, detail); the log shows only the first few per file",
    )
    b = sub.add_parser("backfill", help="write past samples as OpenMetrics for promtool")
    when = b.add_mutually_exclusive_group()
    when.add_argument(
        "--days", type=float, default=None, help="how many days of history (default 28)"
    )
    when.add_argument(
        "--since",
        metavar="WHEN",
        help="start of the history: a duration ago (90d) or an RFC 3339 date or "
        "time (2024-09-01); billing files have history only where they have charges",
    )
    b.add_argument(
        "--until",
        metavar="WHEN",
        default=None,
        help="end of the history, like --since (default: now; never in the future)",
    )
    b.add_argument("--step", default="5m", help="spacing of the samples (default 5m)")
    b.add_argument("--out", required=True, help="output file, or - for stdout")
    b.add_argument(
        "--label",
        action="append",
        default=[],
        type=_label,
        metavar="NAME=VALUE",
        help="add a label to every series, e.g. the job and instance labels your "
        "scrape config gives the exporter, so history and live data are one series",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    start_logging(args)
    cfg = load_or_exit(ExporterConfig, args.config_file)
    if args.command == "check-config":
        return _check(args, cfg)
    if args.command == "backfill":
        return _backfill(args, cfg)
    if args.command == "bad-rows":
        return _bad_rows(cfg)
    return _serve(args, cfg)


if __name__ == "__main__":
    sys.exit(main())
