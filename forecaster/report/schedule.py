"""Scheduled reports: written into a folder on the service's interval (the newest ``keep``
kept), then optionally announced to an Alertmanager-style webhook and mailed over SMTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp

from promcast_common.httpclient import ClientConfigUnavailable, read_secret, request_options
from promcast_forecaster.report.build import build_report
from promcast_forecaster.report_config import ReportConfig, Smtp, Webhook
from promcast_forecaster.report.model import Period, Report
from promcast_forecaster.report.reader import Reader
from promcast_forecaster.report.render import RenderError, write
from promcast_forecaster.source import PrometheusSource

log = logging.getLogger("promcast.report")
PREFIX = "promcast-report-"


class DeliveryError(Exception):
    """The report was written but could not be delivered (webhook or SMTP)."""


def report_name(until: float) -> str:
    return PREFIX + dt.datetime.fromtimestamp(until, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` reports (HTML with its PDF); the files deleted. Only
    files named like reports are touched: the folder may hold other things."""
    reports = sorted(directory.glob(f"{PREFIX}*.html"))
    gone = []
    for html in reports[: max(0, len(reports) - keep)]:
        for path in (html, html.with_suffix(".pdf")):
            if path.exists():
                path.unlink()
                gone.append(path)
    return gone


def summary_text(report: Report) -> str:
    p = report.period
    day = "%Y-%m-%d %H:%M"
    lines = [
        f"promcast report {dt.datetime.fromtimestamp(p.since, dt.timezone.utc).strftime(day)} to "
        f"{dt.datetime.fromtimestamp(p.until, dt.timezone.utc).strftime(day)} UTC"
    ]
    if math.isfinite(report.spend_period):
        lines.append(f"Spent in the period: ${report.spend_period:,.0f}")
    for b in report.budgets:
        lines.append(
            f"Budget {b.name}: projected {b.projected:,.0f} of {b.amount:,.0f} {b.currency}, "
            f"overrun probability {b.overrun_probability:.0%}"
        )
    urgent = [r for r in report.risks if r.within]
    lines.append(
        f"Capacity: {len(urgent)} series run out within their lead time"
        + "".join(f"\n  {r.target} {r.subject}" for r in urgent[:5])
    )
    lines.append(
        f"Savings on offer: ${report.savings_monthly:,.0f} a month "
        f"from {report.recommendations_total} recommendation(s)"
    )
    lines += [f"Note: {n}" for n in report.notes]
    return "\n".join(lines)


def webhook_payload(report: Report, files: list[Path]) -> dict[str, Any]:
    """Alertmanager's webhook JSON (version 4) with one informational alert, so a receiver
    that already handles Alertmanager can route the report."""
    starts = dt.datetime.fromtimestamp(report.generated_at, dt.timezone.utc).isoformat()
    labels = {"alertname": "PromcastReport", "severity": "info"}
    annotations = {
        "summary": summary_text(report).splitlines()[0],
        "description": summary_text(report),
        **{f"report_{p.suffix[1:]}": str(p.resolve()) for p in files},
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="PromcastReport"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "promcast-report",
        "groupLabels": labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": "",
            }
        ],
    }


async def post_webhook(
    cfg: Webhook, payload: dict[str, Any], session: aiohttp.ClientSession
) -> None:
    try:
        options = request_options(cfg, cfg.url, where="report.webhook")
    except ClientConfigUnavailable as exc:
        raise DeliveryError(f"webhook {cfg.url}: {exc}") from None
    try:
        async with session.post(
            cfg.url, json=payload, **options, timeout=aiohttp.ClientTimeout(total=cfg.timeout)
        ) as resp:
            if resp.status >= 300:
                raise DeliveryError(f"webhook {cfg.url} answered HTTP {resp.status}")
    except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
        raise DeliveryError(f"webhook {cfg.url}: {exc.__class__.__name__} {exc}") from None


def send_mail(cfg: Smtp, report: Report, files: list[Path]) -> None:
    """One e-mail with the summary as its body and the PDF (else the HTML) attached."""
    msg = EmailMessage()
    msg["Subject"] = summary_text(report).splitlines()[0]
    msg["From"] = cfg.sender
    msg["To"] = ", ".join(cfg.to)
    msg.set_content(summary_text(report))
    pdfs = [p for p in files if p.suffix == ".pdf"]
    for path in pdfs or files:
        maintype, subtype = ("application", "pdf") if path.suffix == ".pdf" else ("text", "html")
        msg.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    try:
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username:
                password = cfg.password or read_secret(
                    cfg.password_file or "", "smtp.password_file"
                )
                smtp.login(cfg.username, password)
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError, ClientConfigUnavailable) as exc:
        raise DeliveryError(f"smtp {cfg.host}:{cfg.port}: {exc.__class__.__name__} {exc}") from None


async def write_scheduled(
    settings: ReportConfig,
    forecaster_cfg: Any,
    source: PrometheusSource,
    now: float,
    version: str = "",
) -> tuple[Report, list[Path]]:
    """Write the report for the period ending ``now`` into the folder, prune it, deliver it.
    A delivery failure is raised after the files are written and pruned."""
    directory = Path(settings.directory or ".")
    directory.mkdir(parents=True, exist_ok=True)
    report = await build_report(
        Reader(source), Period(now - settings.period, now), settings, forecaster_cfg, version
    )
    html = directory / f"{report_name(now)}.html"
    try:
        # Drawing and the browser block for seconds: off the event loop, so forecasts go on.
        files = await asyncio.to_thread(write, report, html, settings.pdf)
    except RenderError as exc:
        log.error(
            "report PDF failed; the HTML is written", extra={"err": str(exc), "path": str(html)}
        )
        files = [html]
    prune(directory, settings.keep)
    problems = []
    if settings.webhook is not None:
        try:
            await post_webhook(settings.webhook, webhook_payload(report, files), source.session)
        except DeliveryError as exc:
            problems.append(str(exc))
    if settings.smtp is not None:
        try:
            await asyncio.to_thread(send_mail, settings.smtp, report, files)
        except DeliveryError as exc:
            problems.append(str(exc))
    if problems:
        raise DeliveryError(f"report {html} written, but: " + "; ".join(problems))
    return report, files
