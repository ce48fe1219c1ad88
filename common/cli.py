"""Prometheus-style command-line flags shared by both services."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import sys
from typing import Any, Coroutine, TypeVar

from pydantic import BaseModel

from .config import ConfigError, load_config
from .durations import parse_duration
from .http import WebLimits
from .logs import LEVELS, setup_logging

M = TypeVar("M", bound=BaseModel)


def base_parser(
    prog: str, description: str, default_listen: str, version: str
) -> argparse.ArgumentParser:
    """A parser with the flags both services share, Prometheus-style."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"{prog} {version}")
    parser.add_argument(
        "--config.file",
        dest="config_file",
        metavar="FILE",
        help="YAML configuration file (default: built-in defaults)",
    )
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=default_listen,
        metavar="HOST:PORT",
        help=f"address to serve HTTP on (default {default_listen})",
    )
    parser.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="allow POST /-/reload to reload the config (SIGHUP always does)",
    )
    parser.add_argument(
        "--log.level",
        dest="log_level",
        default="info",
        choices=LEVELS,
        help="only log messages of this level or above (default info)",
    )
    parser.add_argument(
        "--web.read-timeout",
        dest="web_read_timeout",
        type=duration,
        default="5m",
        metavar="DURATION",
        help="close a connection that does not send a whole request within this "
        "time of opening or of its previous response, or stays idle (default 5m)",
    )
    parser.add_argument(
        "--web.max-connections",
        dest="web_max_connections",
        type=positive_int,
        default=512,
        metavar="N",
        help="open connections at most; more are closed at once (default 512)",
    )
    return parser


def serve_or_exit(main: Coroutine[Any, Any, None], listen_address: str) -> int:
    """Run a service's ``serve(...)`` coroutine; a listen address that cannot be bound (in use,
    not this host's, a privileged port) is one line on stderr and exit status 1."""
    try:
        asyncio.run(main)
    except ValueError as exc:  # a malformed --web.listen-address
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        reason = os.strerror(exc.errno)
        print(
            f"error: cannot listen on {listen_address} (--web.listen-address): {reason.lower()}",
            file=sys.stderr,
        )
        return 1
    return 0


def duration(text: str) -> float:
    """An argparse type: a positive Prometheus duration (``30s``, ``2m``) in seconds."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return seconds


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def web_limits(args: argparse.Namespace) -> WebLimits:
    return WebLimits(read_timeout=args.web_read_timeout, max_connections=args.web_max_connections)


def load_or_exit(model: type[M], path: str | None) -> M:
    """The validated config, or every problem on stderr and exit status 2."""
    try:
        return load_config(model, path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def start_logging(args: argparse.Namespace) -> None:
    setup_logging(args.log_level)
