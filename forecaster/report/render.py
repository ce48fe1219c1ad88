"""Writing a report: HTML from the Jinja2 template with the plots inlined, and PDF and PNG
screenshots of that HTML by headless Chromium."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import jinja2

from promcast_forecaster.report import plots
from promcast_forecaster.report.model import Report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_TIMEOUT = 120.0


class RenderError(Exception):
    """The browser is missing or failed: the message says which and what to install."""


def _when(t: float) -> str:
    if not math.isfinite(t):
        return "not within the horizon"
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _day(t: float) -> str:
    return (
        "-"
        if not math.isfinite(t)
        else dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d")
    )


def _span(s: float) -> str:
    if not math.isfinite(s):
        return "-"
    sign, s = ("-" if s < 0 else ""), abs(s)
    d, rem = divmod(int(s), 86400)
    h, rem = divmod(rem, 3600)
    return sign + (f"{d}d {h}h" if d else f"{h}h {rem // 60}m")


def _money(x: float, currency: str = "USD") -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"${x:,.0f}" if currency == "USD" else f"{x:,.0f} {currency}"


def _filters() -> dict:
    return {
        "when": _when,
        "day": _day,
        "span": _span,
        "money": _money,
        "usd": _money,
        "usd_signed": lambda x: (
            "-" if not math.isfinite(x) else f"{'+' if x >= 0 else '-'}${abs(x):,.2f}"
        ),
        "pct": lambda x: "-" if x is None or not math.isfinite(x) else f"{x:.0%}",
        "pct_signed": lambda x: "-" if not math.isfinite(x) else f"{x:+.0%}",
        "num": lambda x: (
            "-" if x is None or math.isnan(x) else "off the scale" if math.isinf(x) else f"{x:,.3g}"
        ),
        "times": lambda x: "no effort" if math.isinf(x) else f"{x:,.0f}x",
    }


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("promcast_forecaster.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(_filters())
    return env


def draw(report: Report) -> None:
    """Attach every plot to the report's items (PNG data URIs)."""
    for item in report.capacity:
        item.image = plots.fan_chart(item, report.period.until)
    if report.cost.daily is not None:
        report.cost.image = plots.cost_chart(report.cost)
    if report.quality:
        report.quality_image = plots.quality_chart(
            report.quality, report.quality_thresholds.get("mase_max", 1.0)
        )
    for rec in report.recommendations:
        if rec.evidence is not None:
            rec.image = plots.evidence_chart(rec)


def to_html(report: Report) -> str:
    draw(report)
    fields = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
    return _env().get_template("report.html.j2").render(**fields)


def find_browser(path: str | None = None) -> str:
    found = shutil.which(path) if path else next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        raise RenderError(
            f"no headless browser found ({path or ', '.join(BROWSERS)}): install the "
            "Debian package chromium, or give its path with --browser"
        )
    return found


def _chromium(browser: str, html: Path, *flags: str) -> None:
    with tempfile.TemporaryDirectory(prefix="promcast-chromium-") as profile:
        argv = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            # The report is self-contained: any request it made would be a bug, so none resolves.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            *flags,
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=BROWSER_TIMEOUT, text=True)
        except subprocess.TimeoutExpired:
            raise RenderError(f"{browser} did not finish within {BROWSER_TIMEOUT:.0f}s") from None
        if done.returncode != 0:
            raise RenderError(f"{browser} failed (exit {done.returncode}): {done.stderr[-500:]}")


def to_pdf(html: Path, pdf: Path, browser: str | None = None) -> Path:
    _chromium(
        find_browser(browser),
        html,
        "--no-pdf-header-footer",
        "--print-to-pdf-no-header",
        f"--print-to-pdf={pdf.resolve()}",
    )
    if not pdf.exists() or pdf.stat().st_size == 0:
        raise RenderError(f"the browser wrote no PDF to {pdf}")
    return pdf


def screenshot(
    html: Path, png: Path, width: int = 1000, height: int = 1400, browser: str | None = None
) -> Path:
    _chromium(
        find_browser(browser),
        html,
        f"--window-size={width},{height}",
        f"--screenshot={png.resolve()}",
    )
    if not png.exists() or png.stat().st_size == 0:
        raise RenderError(f"the browser wrote no screenshot to {png}")
    return png


def write(
    report: Report, out_html: Path, pdf: bool = True, browser: str | None = None
) -> list[Path]:
    """Write the HTML (and its PDF beside it, same name); the paths written."""
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(to_html(report), encoding="utf-8")
    written = [out_html]
    if pdf:
        written.append(to_pdf(out_html, out_html.with_suffix(".pdf"), browser))
    return written
