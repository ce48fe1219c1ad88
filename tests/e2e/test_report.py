"""Reports (forecaster/report): built from a real Prometheus holding the demo fleet's history
at a fixed instant, rendered by real headless Chromium, checked as a reader would see them."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from demo.history import ANCHOR, forecaster_config
from demo.stack import free_port
from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.report.build import redacted_config
from promcast_forecaster.report.generate import generate, period_of
from promcast_forecaster.report.render import screenshot

pytestmark = pytest.mark.integration
WEEK = 7 * 86400.0
SECTIONS = ["Executive summary", "Capacity", "Cost", "Forecast quality", "Recommendations", "Audit"]


def need(*binaries: str) -> None:
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (Debian packages chromium, poppler-utils; "
            "`make test` installs them)"
        )


def config(url: str, **report) -> ForecasterConfig:
    raw = forecaster_config(url)
    raw["report"] = report
    return validate(ForecasterConfig, raw, "test")


def write(cfg: ForecasterConfig, since: float, until: float, out: Path, pdf: bool = True):
    return asyncio.run(
        generate(cfg, period_of(since, until, until + 1), out, pdf=pdf, version="test")
    )


def png_pixels(data: bytes) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(data), format="png")


def non_blank(pixels: np.ndarray) -> float:
    """Share of pixels that are not (near) white."""
    rgb = pixels[..., :3]
    return float((rgb.min(axis=-1) < 0.9).mean())


def pdf_pages(pdf: Path) -> list[str]:
    n = int(
        re.search(
            r"Pages:\s+(\d+)",
            subprocess.run(
                ["pdfinfo", str(pdf)], capture_output=True, text=True, check=True
            ).stdout,
        ).group(1)
    )
    return [
        subprocess.run(
            ["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for i in range(1, n + 1)
    ]


@pytest.fixture(scope="module")
def week_report(report_history, tmp_path_factory):
    need("chromium", "pdftotext", "pdftoppm")
    out = tmp_path_factory.mktemp("report") / "week.html"
    report, files = write(config(report_history.url), ANCHOR - WEEK, ANCHOR, out)
    return report, files


def test_report_content_matches_the_demo_fleet(week_report):
    report, _ = week_report
    # logs-1 fills its disk about six days after the anchor, within its 7-day lead time.
    assert [(r.target, r.subject, r.within) for r in report.risks][:1] == [
        ("disk_usage", "logs-1", True)
    ]
    assert {c.target for c in report.capacity} == {
        "disk_usage",
        "cpu_utilization",
        "memory_utilization",
    }
    disk = next(c for c in report.capacity if c.target == "disk_usage")
    assert disk.capacity == pytest.approx(0.9)
    assert disk.history is not None and len(disk.history.t) > 100
    assert {lv for f in disk.forecast for lv in f.bands} == {80, 95}
    # Faster growth orders earlier than the baseline forecast.
    assert [sc.scenario for sc in disk.scenarios] == ["growth_30pct"]
    assert disk.scenarios[0].order_by < disk.order_by
    assert {p for p, _ in report.cost.by_provider} == {"aws", "gcp", "azure"}
    assert report.spend_period == pytest.approx(sum(v for _, v in report.cost.by_provider))
    assert report.spend_period > 0 and report.month_to_date > report.spend_period
    assert [b.name for b in report.budgets] == ["cloud_monthly"]
    assert 0 < report.budgets[0].lower <= report.budgets[0].projected <= report.budgets[0].upper
    assert {q.target for q in report.quality} >= {"disk_usage", "cpu_utilization", "cloud_spend"}
    assert (
        report.recommendations
        and report.savings_monthly >= sum(r.monthly_saving for r in report.recommendations) - 1e-6
    )
    savings = [r.monthly_saving for r in report.recommendations]
    assert savings == sorted(savings, reverse=True)
    assert any(s.name == "azure" and not s.ok for s in report.sources)
    # batch-old's idle recommendation was on offer at the start of the week and is gone.
    assert (report.resolved_since_last, report.saved_since_last) == (1, pytest.approx(61.32))


def test_report_html_is_self_contained_and_drawn_in_chromium(week_report, tmp_path):
    report, files = week_report
    html = files[0]
    text = html.read_text()
    # Nothing to fetch: every picture is a data URI, no script, no remote font or style sheet.
    assert not re.search(r'(src|href)="(?!data:)', text)
    assert "<script" not in text and "@import" not in text and "url(" not in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    evidence = sum(1 for r in report.recommendations if r.image)
    # executive + cost spend charts, one fan chart per capacity item, quality, evidence
    assert len(images) == 2 + len(report.capacity) + 1 + evidence
    assert evidence == min(report.recommendations.__len__(), 5)
    for data in images:
        assert non_blank(png_pixels(base64.b64decode(data))) > 0.02  # axes, lines, bands drawn
    shot = screenshot(html, tmp_path / "first-page.png", 1000, 1400)
    pixels = png_pixels(shot.read_bytes())
    assert pixels.shape[:2] == (1400, 1000)
    assert non_blank(pixels) > 0.05
    for words in (
        "Executive summary",
        "logs-1",
        "cloud_monthly",
        "Source down: exporter provider azure",
    ):
        assert words in text


def test_report_pdf_has_one_page_per_section_at_least(week_report, tmp_path):
    report, files = week_report
    pdf = files[1]
    assert pdf.suffix == ".pdf"
    pages = pdf_pages(pdf)
    starts = []
    for section in SECTIONS:
        first = next(
            i for i, page in enumerate(pages) if re.search(rf"^\s*{section}\s*$", page, re.M)
        )
        starts.append(first)
    # Each section starts on a new page, in order; the executive summary is page 1.
    assert starts[0] == 0 and starts == sorted(starts) and len(set(starts)) == len(SECTIONS)
    assert "logs-1" in pages[0] and "Source down" in pages[0]
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")],
        check=True,
    )
    page1 = png_pixels(next(tmp_path.glob("p*.png")).read_bytes())
    assert non_blank(page1) > 0.03


def test_a_period_without_data_says_so(report_history, tmp_path):
    need("chromium", "pdftotext")
    # Two months before the history starts: Prometheus answers, with nothing.
    report, files = write(
        config(report_history.url),
        ANCHOR - 70 * 86400,
        ANCHOR - 63 * 86400,
        tmp_path / "empty.html",
    )
    assert not report.has_data and report.reachable
    page1 = pdf_pages(files[1])[0]
    assert "No data for this period" in " ".join(page1.split())
    assert "No capacity forecasts for this period." in files[0].read_text()


def test_a_period_shorter_than_an_hour_is_written(report_history, tmp_path):
    need("chromium")
    report, files = write(
        config(report_history.url), ANCHOR - 1800, ANCHOR, tmp_path / "short.html", pdf=False
    )
    assert report.cost.daily is None and report.capacity
    assert "No cost data" in files[0].read_text()


def test_prometheus_down_says_so_and_still_writes(tmp_path):
    need("chromium")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    report, files = write(config(url), ANCHOR - WEEK, ANCHOR, tmp_path / "down.html", pdf=False)
    assert not report.reachable
    assert len([n for n in report.notes if "could not be reached" in n]) == 1
    text = files[0].read_text()
    assert "Prometheus could not be reached" in text and url in text


def test_config_in_the_audit_is_redacted():
    raw = forecaster_config("http://user:hunter2@prom.example:9090")
    raw["remote_write"] = {
        "url": "http://prom.example:9090/api/v1/write",
        "headers": {"Authorization": "Bearer t0ken"},
    }
    raw["report"] = {
        "interval": "1d",
        "directory": "/tmp/reports",
        "smtp": {
            "host": "mail.example",
            "from": "a@example",
            "to": ["b@example"],
            "username": "u",
            "password": "s3cret",
        },
    }
    text = redacted_config(validate(ForecasterConfig, raw, "test"))
    assert "hunter2" not in text and "s3cret" not in text and "t0ken" not in text
    assert "http://prom.example:9090" in text and "password: <redacted>" in text
    assert yaml.safe_load(text)["report"]["smtp"]["username"] == "u"


def test_every_series_the_report_reads_is_in_the_catalogue():
    from promcast_common.catalogue import CATALOGUE
    import promcast_forecaster.report.build as build

    source = Path(build.__file__).read_text()
    names = set(re.findall(r"(?<![:\w])promcast_[a-z0-9_]+(?![:\w])", source))  # not rules
    names -= {"promcast_common", "promcast_exporter", "promcast_forecaster"}  # import names
    assert names and sorted(n for n in names if n not in CATALOGUE) == []


def test_make_demo_writes_the_report_and_prints_its_paths(demo_stack):
    need("chromium")
    from demo.run import write_report

    line = write_report(demo_stack)
    assert line.startswith("Report"), line
    paths = [Path(p) for p in line.split()[1:]]
    assert [p.suffix for p in paths] == [".html", ".pdf"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    assert "Executive summary" in paths[0].read_text()


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["--since", "last tuesday"], "--since/--until: expected a duration"),
        (["--since", "2026-03-20", "--until", "2026-03-13"], "must start before it ends"),
        (["--since", "800d"], "reports cover at most 400"),
        (["--out", "report.pdf"], "use a file name ending in .html"),
        (["--prometheus.url", "prom:9090"], "must start with http://"),
    ],
)
def test_bad_report_arguments_exit_2_with_the_reason(argv, problem, capsys):
    from promcast_forecaster.cli import main

    assert main(["report", *argv]) == 2
    assert problem in capsys.readouterr().err
