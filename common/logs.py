"""logfmt logging, as Prometheus and Alertmanager log, so one log pipeline reads all of them."""

from __future__ import annotations

import logging
import sys
import time

from .redact import redact_urls

LEVELS = ("debug", "info", "warn", "error")
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        level = {"WARNING": "warn", "CRITICAL": "error"}.get(
            record.levelname, record.levelname.lower()
        )
        parts = [
            f"ts={ts}.{int(record.msecs):03d}Z",
            f"level={level}",
            f"logger={record.name}",
            f"msg={_quote(record.getMessage())}",
        ]
        parts += [f"{k}={_quote(v)}" for k, v in record.__dict__.items() if k not in _RESERVED]
        if record.exc_info:
            parts.append(f"err={_quote(self.formatException(record.exc_info))}")
        # The last line of defence: a URL with credentials in any message, field or traceback.
        return redact_urls(" ".join(parts))


def setup_logging(level: str = "info") -> None:
    """Log logfmt lines to stderr at the given level (debug, info, warn, error)."""
    if level not in LEVELS:
        raise ValueError(f"--log.level must be one of {', '.join(LEVELS)}, got {level!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel({"warn": logging.WARNING}.get(level, level.upper()))
