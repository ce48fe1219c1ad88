"""Scheduled reports: the forecaster writes them into a folder (keeping N), announces them to an
Alertmanager-style webhook (the demo's real sink) and mails them (a local aiosmtpd server)."""

from __future__ import annotations

import asyncio
import email
import json
import sys
from email import policy
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from demo.history import ANCHOR, forecaster_config
from demo.stack import ROOT, free_port, spawn, terminate
from promcast_common.config import ConfigError, validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.report.schedule import prune, report_name
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import PrometheusSource

pytestmark = pytest.mark.integration


@pytest.fixture
def sink(tmp_path):
    port = free_port()
    out = tmp_path / "notifications.jsonl"
    proc = spawn(
        tmp_path,
        "sink",
        [
            sys.executable,
            str(ROOT / "demo" / "webhook_sink.py"),
            "--listen",
            f"127.0.0.1:{port}",
            "--out",
            str(out),
        ],
        f"http://127.0.0.1:{port}/-/healthy",
    )
    yield f"http://127.0.0.1:{port}", out
    terminate([proc])


@pytest.fixture
def smtp_sink():
    from aiosmtpd.controller import Controller

    class Keep:
        def __init__(self) -> None:
            self.messages: list[email.message.EmailMessage] = []

        async def handle_DATA(self, server, session, envelope):  # aiosmtpd's API
            self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    handler = Keep()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler.messages
    controller.stop()


def forecaster(url: str, **report) -> Forecaster:
    raw = forecaster_config(url)
    raw["report"] = report
    return Forecaster(validate(ForecasterConfig, raw, "test"))


async def cycles(fc: Forecaster, times: list[float]) -> list[bool]:
    async with aiohttp.ClientSession() as session:
        source = PrometheusSource.from_config(fc.cfg.prometheus, session)
        return [await fc.run_report_cycle(source, at=t) for t in times]


def health(fc: Forecaster) -> tuple[float | None, float | None]:
    reg = CollectorRegistry()
    reg.register(fc)
    return (
        reg.get_sample_value("promcast_forecaster_target_up", {"target": "report"}),
        reg.get_sample_value(
            "promcast_forecaster_cycles_total", {"target": "report", "result": "error"}
        ),
    )


def test_scheduled_reports_are_kept_and_delivered(report_history, sink, smtp_sink, tmp_path):
    hook_url, notifications = sink
    smtp_port, mails = smtp_sink
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a report")
    fc = forecaster(
        report_history.url,
        interval="1d",
        directory=str(folder),
        keep=2,
        webhook={"url": f"{hook_url}/reports"},
        smtp={
            "host": "127.0.0.1",
            "port": smtp_port,
            "from": "promcast@example.org",
            "to": ["finops@example.org"],
        },
    )
    times = [ANCHOR - 7200, ANCHOR - 3600, ANCHOR]
    assert asyncio.run(cycles(fc, times)) == [True, True, True]
    assert health(fc) == (1.0, 0.0)
    kept = sorted(p.name for p in folder.iterdir())
    newest = [report_name(t) for t in times[1:]]
    assert kept == sorted([f"{n}.{ext}" for n in newest for ext in ("html", "pdf")] + ["notes.txt"])
    # The webhook got Alertmanager's JSON shape, one informational alert per report.
    got = [json.loads(line) for line in notifications.read_text().splitlines()]
    assert [n["receiver"] for n in got] == ["reports"] * 3
    alert = got[-1]["payload"]["alerts"][0]
    assert got[-1]["payload"]["version"] == "4"
    assert alert["labels"] == {"alertname": "PromcastReport", "severity": "info"}
    assert Path(alert["annotations"]["report_pdf"]).name == f"{newest[-1]}.pdf"
    assert "logs-1" in alert["annotations"]["description"]
    # The mail carries the summary and the PDF.
    assert len(mails) == 3
    msg = mails[-1]
    assert msg["To"] == "finops@example.org" and msg["Subject"].startswith("promcast report")
    attachments = [(a.get_filename(), a.get_content_type()) for a in msg.iter_attachments()]
    assert attachments == [(f"{newest[-1]}.pdf", "application/pdf")]
    assert msg.get_body(("plain",)).get_content().count("Savings on offer") == 1


def test_a_failed_delivery_keeps_the_report_and_shows_on_the_health_series(
    report_history, tmp_path
):
    folder = tmp_path / "reports"
    fc = forecaster(
        report_history.url,
        interval="1d",
        directory=str(folder),
        pdf=False,
        smtp={
            "host": "127.0.0.1",
            "port": free_port(),
            "from": "a@example.org",
            "to": ["b@example.org"],
            "timeout": "5s",
        },
    )
    assert asyncio.run(cycles(fc, [ANCHOR])) == [False]
    assert health(fc) == (0.0, 1.0)
    assert [p.name for p in folder.iterdir()] == [f"{report_name(ANCHOR)}.html"]


def test_prune_touches_only_reports(tmp_path):
    for i in range(4):
        (tmp_path / f"{report_name(ANCHOR + i)}.html").write_text("x")
        (tmp_path / f"{report_name(ANCHOR + i)}.pdf").write_text("x")
    (tmp_path / "promcast-report.css").write_text("x")
    gone = prune(tmp_path, 1)
    assert len(gone) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{report_name(ANCHOR + 3)}.html", f"{report_name(ANCHOR + 3)}.pdf", "promcast-report.css"]
    )


@pytest.mark.parametrize(
    "report, problem",
    [
        ({"interval": "1d"}, "a schedule needs both interval and directory"),
        (
            {"smtp": {"host": "h", "from": "a@b", "to": ["c@d"]}},
            "webhook and smtp deliver scheduled",
        ),
        (
            {"interval": "1d", "directory": "x", "webhook": {"url": "ftp://x"}},
            "must start with http",
        ),
        ({"keep": 0}, "report.keep"),
        ({"target_named_report": True}, 'carry target="report", already the name of a target'),
    ],
)
def test_bad_report_config_is_reported_with_its_key(report, problem):
    raw = forecaster_config("http://127.0.0.1:9090")
    raw["report"] = report
    if "target_named_report" in report:
        raw["report"] = {"interval": "1d", "directory": "x"}
        raw["targets"].append({"name": "report", "query": "up"})
    with pytest.raises(ConfigError) as err:
        validate(ForecasterConfig, raw, "forecaster.yml")
    assert problem in str(err.value)
