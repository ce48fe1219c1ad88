"""``promcast-forecaster recommend``: one run of the recommendations against Prometheus, as a
ranked table, and as JSON or CSV with ``--out``."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import TYPE_CHECKING, Any

from promcast_forecaster.instance_catalog import CatalogError
from promcast_forecaster.recommend_config import Recommendations
from promcast_forecaster.recommend.report import Report, print_table, write_file

if TYPE_CHECKING:
    # The caller loads the config file; this command only reads two of its sections, so the
    # recommend package need not import the schema that imports recommend_config.
    from promcast_forecaster.config import ForecasterConfig


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "recommend",
        help="print ranked rightsizing, idle and commitment recommendations",
        description="Run the `recommendations:` analyses of --config.file (defaults when the "
        "section is absent) once against its Prometheus and print them ranked by "
        "monthly saving.",
    )
    p.add_argument("--out", default=None, help="also write them to FILE.json or FILE.csv")
    p.add_argument("--top", type=int, default=None, help="print only the first N rows")
    p.add_argument(
        "--all",
        dest="include_keep",
        action="store_true",
        help="include resources whose size is right (action keep)",
    )
    p.add_argument(
        "--time",
        dest="at",
        type=_instant,
        default=None,
        help="run as of this past instant (RFC 3339 or Unix seconds; default: now), "
        "as promtool's `query instant --time`",
    )


def _instant(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an RFC 3339 time or Unix seconds, got {text!r}"
        ) from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()


async def _collect(cfg: ForecasterConfig, at: float | None = None) -> Report:
    import aiohttp

    from promcast_forecaster.recommend.runner import Runner
    from promcast_forecaster.source import PrometheusSource

    async with aiohttp.ClientSession() as session:
        source = PrometheusSource.from_config(cfg.prometheus, session)
        return await Runner(cfg.recommendations or Recommendations(), source).run(at)


def run(args: argparse.Namespace, cfg: ForecasterConfig) -> int:
    from promcast_forecaster.source import QueryError, SourceUnavailable

    if args.out and not args.out.endswith((".json", ".csv")):
        print(
            f"error: --out {args.out!r}: use a file name ending in .json or .csv", file=sys.stderr
        )
        return 2
    try:
        report = asyncio.run(_collect(cfg, args.at))
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (SourceUnavailable, QueryError) as exc:
        print(f"error: {exc} (prometheus.url in --config.file)", file=sys.stderr)
        return 1
    print_table(report, sys.stdout, args.top, args.include_keep)
    if args.out:
        try:
            write_file(report, args.out, args.include_keep)
        except OSError as exc:
            print(f"error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
