"""OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics`` (history backfill)."""

from __future__ import annotations

import logging
from typing import IO, Iterable

import numpy as np

from .catalogue import spec

log = logging.getLogger(__name__)
Series = tuple[str, dict[str, str], np.ndarray, np.ndarray]  # name, labels, timestamps, values


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items())) + "}"


def write_openmetrics(series: Iterable[Series], out: IO[str]) -> int:
    """Write series grouped by family (as OpenMetrics requires), skipping NaN samples.

    Returns the number of samples written. Timestamps are in seconds, as OpenMetrics defines.
    """
    by_name: dict[str, list[tuple[dict[str, str], np.ndarray, np.ndarray]]] = {}
    for name, labels, ts, values in series:
        by_name.setdefault(name, []).append((labels, ts, values))
    written = 0
    for name, members in by_name.items():
        s = spec(name)
        base = name[: -len("_total")] if s.type == "counter" else name
        om_type = "counter" if s.type == "counter" else "gauge"
        out.write(f"# HELP {base} {s.help}\n# TYPE {base} {om_type}\n")
        # 7 significant digits: far below any metric's noise, and half the bytes of repr. Money and
        # Unix timestamps keep 12: a month's spend to the cent, a timestamp to the second.
        precise = name.endswith(("_usd", "_timestamp_seconds"))
        fmt = "{} {:.12g} {}\n" if precise else "{} {:.7g} {}\n"
        for labels, ts, values in members:
            prefix = name + _labels(labels)
            ok = np.isfinite(values)
            out.write(
                "".join(
                    fmt.format(prefix, v, int(t))
                    for t, v in zip(ts[ok].tolist(), values[ok].tolist())
                )
            )
            written += int(ok.sum())
        log.info("wrote family", extra={"family": name, "series": len(members)})
    out.write("# EOF\n")
    return written
