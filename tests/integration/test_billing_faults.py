"""Billing files under fault: rows dated centuries away, corrupt and truncated files, absurd
amounts, files rewritten while read, bad rows counted once and listed in full, the same line items
in two files, month-to-date of the current billing period only, one provider vocabulary."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import logging
import math
import shutil
import tracemalloc
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from promcast_exporter.billing.clouds import cloud_label
from promcast_exporter.config import ExporterConfig
from promcast_common.collector import SnapshotCollector
from promcast_common.config import ConfigError, validate
from promcast_exporter.providers.cur.provider import CurProvider
from tests.helpers.billing import (
    CUR_DIR,
    FOCUS_SAMPLE,
    HEADER,
    LEGACY,
    MONTHLY_UNBLENDED,
    SAMPLE_TOTALS,
    focus,
    focus_row,
    ledger_totals,
    legacy_row,
    monthly,
    write_csv,
)
from tests.helpers.metrics import exposition, refreshed, samples
from tests.helpers.paths import need_shared
from tests.helpers.processes import run_exporter

# A fixed "now" for every refresh: mid-October 2024, after the sample's September.
NOW = dt.datetime(2024, 10, 15, 12, tzinfo=dt.timezone.utc).timestamp()
SEPT = dt.datetime(2024, 9, 15, tzinfo=dt.timezone.utc).timestamp()


def utc(s: str) -> float:
    return dt.datetime.fromisoformat(s).replace(tzinfo=dt.timezone.utc).timestamp()


def write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


def collected(*providers, now: float = NOW) -> tuple[CollectorRegistry, dict[str, bool]]:
    """A registry holding one refresh of each provider at ``now``, and whether each succeeded."""
    collector = SnapshotCollector(list(providers))
    ok = {p.name: collector.refresh_one(p, now) for p in providers}
    reg = CollectorRegistry()
    reg.register(collector)
    return reg, ok


def served(reg: CollectorRegistry, name: str, cost_type: str = "billed") -> float:
    return sum(
        s.value
        for m in reg.collect()
        for s in m.samples
        if s.name == name and s.labels.get("cost_type") == cost_type
    )


def services(n: int) -> list[str]:
    return [focus_row(service=f"svc-{i}") for i in range(n)]


# --- D4: dates outside a sane window are bad rows; no array follows the span of the dates ----


def test_rows_dated_2099_year_1_or_9999_are_bad_rows_and_change_nothing_else(tmp_path):
    good = services(3)
    far = [
        focus_row(start="2099-01-01 00:00:00", end="2099-01-01 01:00:00"),
        focus_row(start="0001-01-01 00:00:00", end="0001-01-01 01:00:00"),
        focus_row(start="9999-12-31 22:00:00", end="9999-12-31 23:00:00"),
        focus_row().replace("2024-09-01 00:00:00", "2099-09-01 00:00:00"),
    ]  # billing period
    p = focus([write(tmp_path / "bill.csv", good + far)])
    reg, ok = collected(p)
    assert ok["focus"]
    assert p.files[0].bad_counts == {"date_out_of_range": 4}
    assert {b.line for b in p.files[0].bad} == {5, 6, 7, 8}
    assert (
        reg.get_sample_value(
            "promcast_exporter_bad_rows_total",
            {
                "provider": "focus",
                "file": str(tmp_path / "bill.csv"),
                "reason": "date_out_of_range",
            },
        )
        == 4
    )
    assert ledger_totals(p)["billed"] == Decimal("3.75")
    newest = reg.get_sample_value(
        "promcast_billing_data_last_timestamp_seconds", {"provider": "gcp", "source": "focus"}
    )
    assert newest == utc("2024-09-03 11:00:00")


def test_no_array_is_sized_by_the_span_of_the_dates(tmp_path):
    # A charge in 2001 (inside the window) next to September 2024, over 40 groups: hourly
    # arrays spanning 2001-2024 would take ~40 x 200,000 hours x 3 cost types.
    rows = services(40) + [
        focus_row(start="2001-01-01 00:00:00", end="2001-01-01 01:00:00").replace(
            "2024-09-01 00:00:00", "2001-01-01 00:00:00"
        )
    ]
    p = focus([write(tmp_path / "bill.csv", rows)])
    p.clock = lambda: NOW
    tracemalloc.start()
    try:
        collected(p)
        series = list(p.history(utc("2024-09-03 00:00:00"), utc("2024-09-04 00:00:00"), 3600))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"peak {peak / 1e6:.0f} MB"
    rate = [
        v
        for n, lab, t, v in series
        if n == "promcast_cost_hourly_rate_usd"
        and lab["service"] == "svc-0"
        and lab["cost_type"] == "billed"
    ]
    assert np.nansum(rate[0]) == pytest.approx(1.25)


# --- D6: one bad file is skipped, named and counted; the others are published ---------------


def bad_files(tmp_path: Path) -> dict[str, Path]:
    gz = gzip.compress((HEADER + "\n" + "\n".join(services(200)) + "\n").encode())
    files = {
        "truncated": tmp_path / "truncated.csv.gz",
        "corrupt": tmp_path / "corrupt.parquet",
        "huge_field": tmp_path / "huge_field.csv",
    }
    files["truncated"].write_bytes(gz[: len(gz) // 2])
    files["corrupt"].write_bytes(b"PAR1" + bytes(range(256)) * 8 + b"PAR1")
    write(files["huge_field"], [focus_row(service="x" * 140_000)])
    return files


def test_one_bad_file_is_skipped_named_and_counted_and_the_others_published(tmp_path, caplog):
    bad = bad_files(tmp_path)
    write(tmp_path / "good.csv", [focus_row(billed="2", effective="2", listed="2")])
    # An amount whose decimal sum overflows is a bad row of an otherwise good file.
    write(tmp_path / "overflow.csv", [focus_row(billed="1E+999999999"), focus_row(billed="3")])
    caplog.set_level(logging.WARNING)
    p = focus([tmp_path])
    reg, ok = collected(p)
    assert ok["focus"] is False  # part of the data is missing: the refresh says so
    billed = sum(
        reg.get_sample_value("promcast_cost_billing_period_usd", {**lab, "cost_type": "billed"})
        or 0
        for lab in [
            {
                "provider": "gcp",
                "billing_account": "ba-1",
                "sub_account": "proj-1",
                "service": "Compute Engine",
                "region": "europe-west1",
                "charge_category": "Usage",
                "source": "focus",
                "billing_period": "2024-09",
            }
        ]
    )
    assert billed == 5.0
    for path in bad.values():
        assert (
            reg.get_sample_value(
                "promcast_exporter_skipped_files_total",
                {"provider": "focus", "file": str(path), "reason": "corrupt"},
            )
            == 1
        ), path
        assert any(
            getattr(r, "file", None) == str(path) and r.levelno == logging.ERROR
            for r in caplog.records
        ), path
    assert (
        reg.get_sample_value(
            "promcast_exporter_bad_rows_total",
            {"provider": "focus", "file": str(tmp_path / "overflow.csv"), "reason": "bad_number"},
        )
        == 1
    )
    # A corrupt version is not read again; a repaired one is, and the refresh succeeds again.
    reg, ok = collected(p)
    assert (
        reg.get_sample_value(
            "promcast_exporter_skipped_files_total",
            {"provider": "focus", "file": str(bad["corrupt"]), "reason": "corrupt"},
        )
        == 1
    )
    for path in bad.values():
        path.unlink()
    write(tmp_path / "repaired.csv", [focus_row(billed="4")])
    _, ok = collected(p)
    assert ok["focus"] and ledger_totals(p)["billed"] == Decimal(9)


def test_a_file_turning_corrupt_keeps_its_last_good_version(tmp_path):
    path = tmp_path / "bill.csv.gz"
    body = gzip.compress((HEADER + "\n" + focus_row(billed="7") + "\n").encode())
    path.write_bytes(body)
    p = focus([path])
    collected(p)
    path.write_bytes(body[:-12])  # truncated: a new, unreadable version
    _, ok = collected(p)
    assert not ok["focus"] and ledger_totals(p)["billed"] == Decimal(7)


# --- D7: a file rewritten while it is read is read again, never half ------------------------


class RewrittenWhileRead(io.FileIO):
    """The file as an export job rewrites it: after the first chunk is read, ``rewrite()``
    replaces its content in place."""

    def __init__(self, path: str, rewrite) -> None:
        super().__init__(path, "rb")
        self._rewrite, self._reads = rewrite, 0

    def _tick(self) -> None:
        self._reads += 1
        if self._reads == 2 and self._rewrite:
            self._rewrite()

    def read(self, size: int = -1) -> bytes:
        self._tick()
        return super().read(size)

    def readinto(self, buffer) -> int:
        self._tick()
        return super().readinto(buffer)


def rewriting(p, path: Path, versions: list[list[str]], opens: list[int]) -> None:
    """Each open of ``path`` rewrites it, during the read, with the next of ``versions``."""
    real_open = p.storage.open

    def open_(ref):
        if ref.url != str(path) or not versions:
            return real_open(ref)
        rows = versions.pop(0)
        opens.append(1)
        return RewrittenWhileRead(ref.url, lambda: write(path, rows))

    p.storage.open = open_


def test_a_file_rewritten_while_read_is_read_again(tmp_path):
    v1 = [focus_row(billed="1", service=f"svc-{i}") for i in range(2000)]
    v2 = [focus_row(billed="2", service=f"svc-{i}") for i in range(2000)]
    path = write(tmp_path / "bill.csv", v1)
    p = focus([path])
    opens: list[int] = []
    rewriting(p, path, [v2], opens)
    reg, ok = collected(p)
    assert ok["focus"] and len(opens) == 1
    # Never a mix of the two versions: all of the second one.
    assert ledger_totals(p)["billed"] == Decimal(4000)
    assert (
        reg.get_sample_value(
            "promcast_exporter_skipped_files_total",
            {"provider": "focus", "file": str(path), "reason": "changing"},
        )
        == 0
    )


def test_a_file_changing_on_every_read_is_skipped_and_the_refresh_fails(tmp_path):
    path = write(
        tmp_path / "bill.csv", [focus_row(billed="1", service=f"svc-{i}") for i in range(2000)]
    )
    p = focus([path])
    collected(p)  # a good first version
    versions = [
        [focus_row(billed=str(n), service=f"svc-{i}") for i in range(2000)] for n in (2, 3, 4)
    ]
    write(path, versions[0])
    rewriting(p, path, versions[1:] + [versions[0]], [])
    reg, ok = collected(p)
    assert not ok["focus"]
    assert (
        reg.get_sample_value(
            "promcast_exporter_skipped_files_total",
            {"provider": "focus", "file": str(path), "reason": "changing"},
        )
        == 1
    )
    # What is served is the last good version, not a mix.
    assert served(reg, "promcast_cost_billing_period_usd") == pytest.approx(2000)


# --- D17: absurd amounts are bad rows; bad rows counted once, all of them listed -------------


def test_an_amount_beyond_float_range_is_a_bad_row_not_infinity(tmp_path):
    p = focus(
        [
            write(
                tmp_path / "bill.csv",
                [
                    focus_row(billed="1E+400"),
                    focus_row(listed="-1e400"),
                    focus_row(effective="1e15"),
                    focus_row(),
                ],
            )
        ]
    )
    reg, _ = collected(p)
    assert p.files[0].bad_counts == {"bad_number": 3}
    values = [s.value for m in reg.collect() for s in m.samples]
    assert all(math.isfinite(v) for v in values)
    assert ledger_totals(p)["billed"] == Decimal("1.25")


def test_a_changed_file_does_not_count_its_bad_rows_twice(tmp_path):
    path = tmp_path / "bill.csv"
    rows = [focus_row(billed="x"), focus_row(start="never"), focus_row(currency="EUR"), focus_row()]
    write(path, rows)
    p = focus([path])
    collected(p)
    write(path, rows + [focus_row(billed="3")])  # a new version: the same bad rows, one more good
    collected(p)
    assert sum(p.bad_rows_total.values()) == 3
    write(path, rows + [focus_row(billed="3"), focus_row(billed="y")])  # one more bad row
    reg, _ = collected(p)
    assert (
        reg.get_sample_value(
            "promcast_exporter_bad_rows_total",
            {"provider": "focus", "file": str(path), "reason": "bad_number"},
        )
        == 2
    )
    assert sum(p.bad_rows_total.values()) == 4


def test_every_bad_row_is_listed_while_the_log_holds_a_sample(tmp_path, caplog):
    rows = [focus_row(billed="bad") if i % 2 else focus_row() for i in range(2000)]
    path = write(tmp_path / "bill.csv", rows)
    caplog.set_level(logging.WARNING)
    p = focus([path])
    collected(p)
    assert p.bad_rows_total[(str(path), "bad_number")] == 1000
    assert len([r for r in caplog.records if getattr(r, "line", None)]) <= 20
    res = run_exporter(
        tmp_path, {"providers": {"focus": {"enabled": True, "paths": [str(path)]}}}, "bad-rows"
    )
    assert res.returncode == 0, res.stderr
    listed = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(listed) == 1000
    assert {int(r["line"]) for r in listed} == {i + 2 for i in range(2000) if i % 2}
    assert {(r["provider"], r["file"], r["reason"]) for r in listed} == {
        ("focus", str(path), "bad_number")
    }


# --- issue 17: the same line items in two files count once --------------------------------


def test_a_cur_csv_extract_beside_its_parquet_is_counted_once(caplog):
    need_shared(CUR_DIR)
    caplog.set_level(logging.WARNING)
    p = CurProvider(3600, [str(CUR_DIR) + "/"])
    reg, ok = collected(p, now=utc("2018-12-15 00:00:00"))
    assert ok["cur"]
    assert monthly(p, "billed") == MONTHLY_UNBLENDED  # October 4,064.48, not 4,318.76
    extract = str(CUR_DIR / "Oct2018-WorkshopCUR_first3000rows.csv")
    assert (
        reg.get_sample_value(
            "promcast_exporter_duplicate_rows_total", {"provider": "cur", "file": extract}
        )
        == 3000
    )
    assert any(
        getattr(r, "file", None) == extract and getattr(r, "duplicates", 0) == 3000
        for r in caplog.records
    )
    # The parquet file, read first, kept every line item.
    october = str(CUR_DIR / "Oct2018-WorkshopCUR-00001.snappy.parquet")
    assert (
        reg.get_sample_value(
            "promcast_exporter_duplicate_rows_total", {"provider": "cur", "file": october}
        )
        == 0
    )


def test_two_copies_of_a_focus_export_count_once_but_identical_rows_in_one_file_twice(tmp_path):
    rows = services(3) + [focus_row(), focus_row()]  # two identical charges in one file: both count
    write(tmp_path / "export-v1.csv", rows)
    shutil.copy(tmp_path / "export-v1.csv", tmp_path / "export-v2.csv")
    p = focus([tmp_path])
    reg, _ = collected(p)
    assert ledger_totals(p)["billed"] == Decimal("6.25")
    assert (
        reg.get_sample_value(
            "promcast_exporter_duplicate_rows_total",
            {"provider": "focus", "file": str(tmp_path / "export-v2.csv")},
        )
        == 5
    )


# --- issue 17: month-to-date is the current billing period's; one provider vocabulary --------


def test_month_to_date_is_the_current_billing_period_only(sample_rows_by_period):
    p = focus([need_shared(FOCUS_SAMPLE)])
    for now, period in ((SEPT, "2024-09"), (NOW, "2024-10")):
        reg, _ = collected(p, now=now)
        mtd = [
            s
            for m in reg.collect()
            for s in m.samples
            if s.name == "promcast_cost_month_to_date_usd" and s.labels["cost_type"] == "billed"
        ]
        assert {s.labels["billing_period"] for s in mtd} == {period}
        assert sum(s.value for s in mtd) == pytest.approx(sample_rows_by_period[period], abs=1e-9)
    # A month the files hold nothing of yet: no month-to-date at all (not last month's).
    reg, _ = collected(p, now=utc("2024-11-02 00:00:00"))
    assert not [
        s for m in reg.collect() for s in m.samples if s.name == "promcast_cost_month_to_date_usd"
    ]


@pytest.fixture(scope="module")
def sample_rows_by_period() -> dict[str, float]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    with open(need_shared(FOCUS_SAMPLE), newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            out[r["BillingPeriodStart"][:7]] += Decimal(r["BilledCost"])
    return {k: float(v) for k, v in out.items()}


def test_cloud_names_are_one_vocabulary():
    assert {cloud_label(n) for n in ("AWS", "Amazon Web Services", "aws")} == {"aws"}
    assert cloud_label("Microsoft") == "azure" and cloud_label("Google Cloud") == "gcp"
    assert cloud_label("Oracle") == "oci" and cloud_label("Oracle Cloud Infrastructure") == "oci"
    assert cloud_label("Snowflake Inc.") == "snowflake_inc" and cloud_label("") == ""
    text = exposition(refreshed(focus([need_shared(FOCUS_SAMPLE)])))
    assert {s.labels["provider"] for s in samples(text, "promcast_cost_billing_period_usd")} == {
        "aws",
        "azure",
        "oci",
    }


# --- issue 17: the demo is off as soon as a real provider is enabled -----------------------


def test_the_demo_is_off_as_soon_as_another_provider_is_enabled():
    assert validate(ExporterConfig, {}).providers.demo_on()
    cfg = validate(ExporterConfig, {"providers": {"cur": {"enabled": True, "paths": ["x"]}}})
    assert not cfg.providers.demo_on()
    with pytest.raises(ConfigError, match=r"providers: demo.enabled: .* real data of cur"):
        validate(
            ExporterConfig,
            {"providers": {"demo": {"enabled": True}, "cur": {"enabled": True, "paths": ["x"]}}},
        )


# --- issue 17: CUR manifests and report versions -----------------------------------------


def usage(i: int, amount: str) -> list[str]:
    return legacy_row(i, "Usage", amount, amount, "Amazon Elastic Compute Cloud", *[""] * 7)


def test_a_legacy_cur_manifest_chooses_the_current_report_version(tmp_path, caplog):
    period = tmp_path / "cur" / "report" / "20181001-20181101"
    for asm in ("asm-1", "asm-2"):
        (period / asm).mkdir(parents=True)
    # Version 2 restates the three line items of version 1 and adds a fourth.
    write_csv(period / "asm-1" / "report-1.csv", LEGACY, [usage(i, "10.00") for i in range(3)])
    write_csv(period / "asm-2" / "report-1.csv", LEGACY, [usage(i, "12.00") for i in range(4)])
    key = "prefix/report/20181001-20181101/{}/report-1.csv"
    (period / "report-Manifest.json").write_text(
        json.dumps({"assemblyId": "asm-2", "reportKeys": [key.format("asm-2")]})
    )
    # Each version's folder holds its own manifest too: the period's one decides.
    (period / "asm-1" / "report-Manifest.json").write_text(
        json.dumps({"assemblyId": "asm-1", "reportKeys": [key.format("asm-1")]})
    )
    caplog.set_level(logging.INFO)
    p = CurProvider(3600, [str(tmp_path / "cur")], ["unblended"])
    _, ok = collected(p, now=utc("2018-10-20 00:00:00"))
    assert ok["cur"] and ledger_totals(p) == {"billed": Decimal(48)}
    assert [f.name for f in p.files] == [str(period / "asm-2" / "report-1.csv")]
    assert any(
        getattr(r, "files", None) == 1 and "older report versions" in r.getMessage()
        for r in caplog.records
    )


def test_a_data_exports_manifest_names_the_period_files(tmp_path, caplog):
    export = tmp_path / "exports" / "cur2"
    data = export / "data" / "BILLING_PERIOD=2018-10"
    meta = export / "metadata" / "BILLING_PERIOD=2018-10"
    data.mkdir(parents=True)
    meta.mkdir(parents=True)
    write_csv(data / "cur2-00001.csv", LEGACY, [usage(0, "5")])
    write_csv(data / "cur2-00002.csv", LEGACY, [usage(1, "7")])  # left over from an older run
    (meta / "cur2-Manifest.json").write_text(
        json.dumps(
            {
                "dataFiles": [
                    "s3://bucket/exports/cur2/data/BILLING_PERIOD=2018-10/cur2-00001.csv",
                    "s3://bucket/exports/cur2/data/BILLING_PERIOD=2018-10/cur2-00003.csv",
                ]
            }
        )
    )
    caplog.set_level(logging.WARNING)
    p = CurProvider(3600, [str(tmp_path / "exports")], ["unblended"])
    collected(p, now=utc("2018-10-20 00:00:00"))
    assert ledger_totals(p) == {"billed": Decimal(5)}
    assert any(getattr(r, "absent", None) == 1 for r in caplog.records)  # 00003 not there yet
    # Without a manifest every file is read.
    (meta / "cur2-Manifest.json").unlink()
    assert ledger_totals(p) == {"billed": Decimal(12)}


def test_an_unreadable_manifest_is_counted_and_every_file_read(tmp_path):
    period = tmp_path / "cur" / "report" / "20181001-20181101"
    period.mkdir(parents=True)
    write_csv(period / "report-1.csv", LEGACY, [usage(0, "5")])
    manifest = period / "report-Manifest.json"
    manifest.write_text("{not json")
    p = CurProvider(3600, [str(tmp_path / "cur")], ["unblended"])
    for _ in range(2):  # counted once per version
        reg, ok = collected(p, now=utc("2018-10-20 00:00:00"))
    assert not ok["cur"] and ledger_totals(p) == {"billed": Decimal(5)}
    assert (
        reg.get_sample_value(
            "promcast_exporter_skipped_files_total",
            {"provider": "cur", "file": str(manifest), "reason": "corrupt"},
        )
        == 1
    )


def test_a_focus_csv_beside_its_parquet_copy_counts_once(tmp_path):
    import pandas as pd

    shutil.copy(need_shared(FOCUS_SAMPLE), tmp_path / "focus.csv")
    # Typed as pandas reads it: costs as doubles, the rest as text.
    pd.read_csv(FOCUS_SAMPLE, keep_default_na=False).to_parquet(tmp_path / "focus.parquet")
    p = focus([tmp_path])
    reg, ok = collected(p)
    assert ok["focus"] and ledger_totals(p) == SAMPLE_TOTALS
    assert (
        reg.get_sample_value(
            "promcast_exporter_duplicate_rows_total",
            {"provider": "focus", "file": str(tmp_path / "focus.csv")},
        )
        == 1000
    )
