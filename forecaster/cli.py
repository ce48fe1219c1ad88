"""``promcast-forecaster``: the forecasting service, and offline tools that need no Prometheus."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from prometheus_client import CollectorRegistry

from promcast_common.cli import (
    base_parser,
    duration,
    load_or_exit,
    positive_int,
    serve_or_exit,
    start_logging,
    web_limits,
)
from promcast_common.config import load_config
from promcast_common.http import make_app, serve
from promcast_common.reload import Reloader
from promcast_forecaster import __version__
from promcast_forecaster.anomaly import cli as anomaly_cli
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.interrupt import busy
from promcast_forecaster.offline import cli as offline_cli
from promcast_forecaster.recommend import cli as recommend_cli
from promcast_forecaster.report import cli as report_cli

log = logging.getLogger("promcast.forecaster")
DEFAULT_LISTEN = "127.0.0.1:9185"
# The math libraries' thread pools size themselves to the host's cores. The forecaster's own
# parallelism is its fit slots and array-wide models, and a pod's CPU limit or a busy node leaves
# those pools spinning: on 2 cores with the other one busy, `auto` took twice the CPU time and
# 1.5 times as long with the default pools as with one thread each (one thread costs 5% of wall
# time on an idle machine).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_math_threads(threads: int) -> None:
    """At most ``threads`` threads in each math library's pool (BLAS, OpenMP): those already
    loaded now, those loaded later (scipy, scikit-learn) through the variables they read at load;
    0 leaves the libraries' own defaults."""
    if threads <= 0:
        return
    from threadpoolctl import threadpool_limits

    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    threadpool_limits(limits=threads)


def _serve(args: argparse.Namespace) -> int:
    from promcast_forecaster.api import QueryGate, QueryLimits, add_routes
    from promcast_forecaster.service import Forecaster
    from promcast_forecaster.source import redact

    cfg = load_or_exit(ForecasterConfig, args.config_file)
    if not cfg.targets:
        log.warning("no targets configured; add some under `targets:` in --config.file")
    forecaster = Forecaster(cfg, args.shard_index, args.shard_count)
    reloader = Reloader(
        lambda: load_config(ForecasterConfig, args.config_file),
        forecaster.apply,
        args.enable_lifecycle,
    )
    registry = CollectorRegistry()
    registry.register(forecaster)
    gate = QueryGate(
        QueryLimits(
            timeout=args.query_timeout,
            max_concurrency=args.query_max_concurrency,
            max_queued=args.query_max_queued,
            max_samples=args.query_max_samples,
            max_series=args.query_max_series,
        )
    )
    registry.register(reloader)
    registry.register(gate)
    app = make_app(
        registry,
        "promcast forecaster",
        forecaster.ready,
        lambda: (forecaster.version, reloader.last_ok, gate.in_flight, *gate.rejected.values()),
    )
    add_routes(app, forecaster, gate)
    reloader.add_routes(app)
    log.info(
        "starting",
        extra={
            "version": __version__,
            "targets": len(cfg.targets),
            "prometheus": redact(cfg.prometheus.url),
        },
    )
    code = serve_or_exit(
        serve(app, args.listen_address, reloader.with_signal(forecaster.run), web_limits(args)),
        args.listen_address,
    )
    gate.close()
    if busy():
        # A fit between two checkpoints (one long library call) is abandoned: nothing waits
        # for it, and the interpreter's shutdown must not run beside it.
        log.info("abandoning fits still running", extra={"fits": busy()})
        logging.shutdown()
        os._exit(code)
    return code


def _check(args: argparse.Namespace) -> int:
    cfg = load_or_exit(ForecasterConfig, args.config_file)
    print(f"{args.config_file or '<defaults>'}: OK, {len(cfg.targets)} target(s)")
    return 0


def non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(text)


def parser() -> argparse.ArgumentParser:
    from promcast_forecaster.api import QueryLimits

    p = base_parser(
        "promcast-forecaster",
        "Forecasts, time to exhaustion and anomaly scores for Prometheus series.",
        DEFAULT_LISTEN,
        __version__,
    )
    p.add_argument(
        "--shard.index",
        dest="shard_index",
        type=int,
        default=0,
        metavar="I",
        help="this instance's shard, 0 <= I < --shard.count (default 0)",
    )
    p.add_argument(
        "--shard.count",
        dest="shard_count",
        type=int,
        default=1,
        metavar="N",
        help="instances sharing the series by a stable hash of their labels (default 1)",
    )
    q = QueryLimits()
    p.add_argument(
        "--query.timeout",
        dest="query_timeout",
        type=duration,
        default=q.timeout,
        metavar="DURATION",
        help="an API request (query, ad-hoc forecast) taking longer is answered 503 (default 2m)",
    )
    p.add_argument(
        "--query.max-concurrency",
        dest="query_max_concurrency",
        type=positive_int,
        default=q.max_concurrency,
        metavar="N",
        help="API requests worked on at once, "
        f"each in its own thread off the event loop (default {q.max_concurrency})",
    )
    p.add_argument(
        "--query.max-queued",
        dest="query_max_queued",
        type=non_negative_int,
        default=q.max_queued,
        metavar="N",
        help="API requests waiting for one of those; "
        f"more are answered 503 at once (default {q.max_queued})",
    )
    p.add_argument(
        "--query.max-samples",
        dest="query_max_samples",
        type=positive_int,
        default=q.max_samples,
        metavar="N",
        help=f"samples one query answer may hold; more is answered 422 (default {q.max_samples})",
    )
    p.add_argument(
        "--query.max-series",
        dest="query_max_series",
        type=positive_int,
        default=q.max_series,
        metavar="N",
        help=f"series one ad-hoc forecast may read (default {q.max_series})",
    )
    p.add_argument(
        "--fit.math-threads",
        dest="fit_math_threads",
        type=non_negative_int,
        default=1,
        metavar="N",
        help="threads of each math library's pool (BLAS, OpenMP) per fit; 0: the libraries' "
        "default, one per core (default 1: fits run in parallel through the fit slots)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="run the service (the default)")
    sub.add_parser("check-config", help="validate --config.file and exit")
    offline_cli.add_parser(sub)
    anomaly_cli.add_parser(sub)
    recommend_cli.add_parser(sub)
    report_cli.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    start_logging(args)
    limit_math_threads(args.fit_math_threads)
    if not 0 <= args.shard_index < args.shard_count:
        print(
            f"error: --shard.index must be in [0, --shard.count={args.shard_count}), "
            f"got {args.shard_index}",
            file=sys.stderr,
        )
        return 2
    if args.command == "check-config":
        return _check(args)
    if args.command == "offline":
        return offline_cli.run(args)
    if args.command == "anomalies":
        return anomaly_cli.run(args)
    if args.command == "report":
        return report_cli.run(args, load_or_exit(ForecasterConfig, args.config_file))
    if args.command == "recommend":
        return recommend_cli.run(args, load_or_exit(ForecasterConfig, args.config_file))
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
