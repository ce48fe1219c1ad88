"""Prometheus-style durations ("90s", "5m", "1h30m", "7d", "2w") in both directions."""

from __future__ import annotations

import datetime as dt
import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str | int | float) -> float:
    """Seconds in a Prometheus duration string; bare numbers are seconds."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"negative duration: {text!r}")
        return float(text)
    s = str(text).strip()
    if not s:
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m, 7d)")
    return total


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration string for a whole number of seconds."""
    secs = int(round(seconds))
    if secs == 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if secs >= size:
            n, secs = divmod(secs, int(size))
            out.append(f"{n}{unit}")
    return "".join(out)


def parse_when(text: str, now: float) -> float:
    """A duration ago ("90d") or an RFC 3339 date or date-time ("2024-09-01", naive = UTC), as
    a Unix timestamp."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected a duration (90d) or an RFC 3339 time, got {text!r}") from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()
