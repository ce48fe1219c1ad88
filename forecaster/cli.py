"""``promcast-forecaster``: the forecasting service, and offline tools that need no Prometheus."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from prometheus_client import CollectorRegistry

from exporter.core.cli import base_parser, load_or_exit, start_logging
from exporter.core.http import make_app, serve
from forecaster import __version__, anomaly, offline
from forecaster.config import ForecasterConfig
from forecaster.interrupt import busy
from forecaster.recommend import cli as recommend_cli

log = logging.getLogger("promcast.forecaster")
DEFAULT_LISTEN = "127.0.0.1:9185"


def _serve(args: argparse.Namespace) -> int:
    from forecaster.api import add_routes
    from forecaster.service import Forecaster
    from forecaster.source import redact

    cfg = load_or_exit(ForecasterConfig, args.config_file)
    if not cfg.targets:
        log.warning("no targets configured; add some under `targets:` in --config.file")
    forecaster = Forecaster(cfg, args.shard_index, args.shard_count)
    registry = CollectorRegistry()
    registry.register(forecaster)
    app = make_app(registry, "promcast forecaster", forecaster.ready, lambda: forecaster.version)
    add_routes(app, forecaster)
    log.info("starting", extra={"version": __version__, "targets": len(cfg.targets),
                                "prometheus": redact(cfg.prometheus.url)})
    asyncio.run(serve(app, args.listen_address, forecaster.run))
    if busy():
        # A fit between two checkpoints (one long library call) is abandoned: nothing waits
        # for it, and the interpreter's shutdown must not run beside it.
        log.info("abandoning fits still running", extra={"fits": busy()})
        logging.shutdown()
        os._exit(0)
    return 0


def _check(args: argparse.Namespace) -> int:
    cfg = load_or_exit(ForecasterConfig, args.config_file)
    print(f"{args.config_file or '<defaults>'}: OK, {len(cfg.targets)} target(s)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = base_parser("promcast-forecaster", "Forecasts, time to exhaustion and anomaly scores "
                    "for Prometheus series.", DEFAULT_LISTEN, __version__)
    p.add_argument("--shard.index", dest="shard_index", type=int, default=0, metavar="I",
                   help="this instance's shard, 0 <= I < --shard.count (default 0)")
    p.add_argument("--shard.count", dest="shard_count", type=int, default=1, metavar="N",
                   help="instances sharing the series by a stable hash of their labels (default 1)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="run the service (the default)")
    sub.add_parser("check-config", help="validate --config.file and exit")
    offline.add_parser(sub)
    anomaly.add_parser(sub)
    recommend_cli.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    start_logging(args)
    if not 0 <= args.shard_index < args.shard_count:
        print(f"error: --shard.index must be in [0, --shard.count={args.shard_count}), "
              f"got {args.shard_index}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        return _check(args)
    if args.command == "offline":
        return offline.run(args)
    if args.command == "anomalies":
        return anomaly.run(args)
    if args.command == "recommend":
        return recommend_cli.run(args, load_or_exit(ForecasterConfig, args.config_file))
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
