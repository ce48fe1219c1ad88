"""``promcast-forecaster report``: one HTML report (and its PDF) for a period, read from the
Prometheus of --config.file."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from promcast_common.durations import parse_when
from promcast_forecaster import __version__


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="write an HTML and PDF capacity and cost report for a period",
        description="Read what the exporter and the forecaster published in Prometheus over a "
        "period and write one self-contained HTML report and a PDF of it.",
    )
    p.add_argument(
        "--since",
        metavar="WHEN",
        default=None,
        help="start: a duration before --until (7d) or an RFC 3339 date or time "
        "(default: report.period of the config, 7d)",
    )
    p.add_argument(
        "--until",
        metavar="WHEN",
        default=None,
        help="end: a duration ago or an RFC 3339 date or time (default: now)",
    )
    p.add_argument(
        "--out",
        metavar="FILE.html",
        default=None,
        help="HTML file to write; the PDF goes beside it (default: "
        "promcast-report-<until>.html in the current folder)",
    )
    p.add_argument(
        "--prometheus.url",
        dest="prometheus_url",
        default=None,
        metavar="URL",
        help="read from this Prometheus instead of the config's prometheus.url",
    )
    p.add_argument("--no-pdf", dest="pdf", action="store_false", help="write only the HTML")
    p.add_argument(
        "--browser",
        default=None,
        metavar="PATH",
        help="headless browser for the PDF (default: chromium from PATH)",
    )


def run(args: argparse.Namespace, cfg: Any) -> int:
    # Plotting and templating load only for this command: serving needs neither.
    from promcast_forecaster.report.generate import generate, period_of
    from promcast_forecaster.report.render import RenderError

    now = time.time()
    try:
        until = parse_when(args.until, now) if args.until else now
        since = parse_when(args.since, until) if args.since else until - cfg.report.period
        period = period_of(since, until, now)
    except ValueError as exc:
        print(f"error: --since/--until: {exc}", file=sys.stderr)
        return 2
    if args.prometheus_url:
        if not args.prometheus_url.startswith(("http://", "https://")):
            print(
                f"error: --prometheus.url must start with http:// or https://, got "
                f"{args.prometheus_url!r}",
                file=sys.stderr,
            )
            return 2
        cfg = cfg.model_copy(
            update={
                "prometheus": cfg.prometheus.model_copy(
                    update={"url": args.prometheus_url.rstrip("/")}
                )
            }
        )
    out = Path(
        args.out or f"promcast-report-{time.strftime('%Y%m%dT%H%M', time.gmtime(until))}.html"
    )
    if out.suffix != ".html":
        print(f"error: --out {out}: use a file name ending in .html", file=sys.stderr)
        return 2
    try:
        report, written = asyncio.run(
            generate(cfg, period, out, pdf=args.pdf, browser=args.browser, version=__version__)
        )
    except RenderError as exc:
        print(
            f"error: {exc} (the HTML was written to {out}; --no-pdf skips the PDF)", file=sys.stderr
        )
        return 1
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    for path in written:
        print(path)
    return 0
