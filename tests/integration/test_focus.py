"""The focus provider: exact totals of the FOCUS sample, bad rows left out and reported with their
line numbers, expositions promtool accepts, history promtool loads, config errors with paths."""

from __future__ import annotations

import csv
import datetime as dt
import logging
from collections import defaultdict
from decimal import Decimal

import numpy as np
import pytest

from promcast_exporter.config import ExporterConfig
from promcast_common.config import ConfigError, validate
from promcast_exporter.providers.focus.columns import DEFAULT_DIMENSIONS
from tests.helpers.billing import (
    FOCUS_SAMPLE,
    HEADER,
    SAMPLE_TOTALS,
    focus,
    focus_row,
    ledger_totals,
)
from tests.helpers.metrics import exposition, parse_om, refreshed, samples, value
from tests.helpers.paths import need_shared
from tests.helpers.processes import load_into_tsdb, promtool_check, run_exporter

COLUMN = {"billed": "BilledCost", "effective": "EffectiveCost", "list": "ListCost"}


@pytest.fixture(scope="module")
def sample_rows() -> list[dict[str, str]]:
    with open(need_shared(FOCUS_SAMPLE), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_totals_equal_the_files_sums_exactly(sample_rows):
    from_file = {ct: sum(Decimal(r[col]) for r in sample_rows) for ct, col in COLUMN.items()}
    assert from_file == SAMPLE_TOTALS
    p = focus([FOCUS_SAMPLE])
    assert ledger_totals(p) == SAMPLE_TOTALS
    assert p.files[0].rows == 1000 and not p.files[0].bad_counts
    # What Prometheus scrapes: one series per group and billing period, summing to the cent.
    text = exposition(refreshed(p))
    for cost_type, total in SAMPLE_TOTALS.items():
        served = sum(
            Decimal(repr(s.value))
            for s in samples(text, "promcast_cost_billing_period_usd")
            if s.labels["cost_type"] == cost_type
        )
        assert served.quantize(Decimal("0.01")) == total.quantize(Decimal("0.01"))
        assert abs(served - total) < Decimal("1e-9")


def test_nulls_case_variants_and_credits(sample_rows):
    p = focus([FOCUS_SAMPLE], DEFAULT_DIMENSIONS + ["ChargeFrequency", "PricingCategory"])
    text = exposition(refreshed(p))
    mtd = [
        s
        for s in samples(text, "promcast_cost_billing_period_usd")
        if s.labels["cost_type"] == "billed"
    ]
    # "Usage-based" and "Usage-Based" are one FOCUS value, so one series, not two.
    assert {s.labels["charge_frequency"] for s in mtd} == {"Usage-Based", "One-Time"}
    usage_based = sum(
        Decimal(r["BilledCost"])
        for r in sample_rows
        if r["ChargeFrequency"].lower() == "usage-based"
    )
    served = sum(
        Decimal(repr(s.value)) for s in mtd if s.labels["charge_frequency"] == "Usage-Based"
    )
    assert abs(served - usage_based) < Decimal("1e-9")
    # The literal NULL is an empty label (absent to PromQL), never the string "NULL".
    assert all("NULL" not in s.labels.values() for s in mtd)
    null_region = sum(Decimal(r["BilledCost"]) for r in sample_rows if r["RegionId"] == "NULL")
    assert abs(
        sum(Decimal(repr(s.value)) for s in mtd if s.labels["region"] == "") - null_region
    ) < Decimal("1e-9")
    # The credit stays negative and in the totals.
    credit = [s for s in mtd if s.labels["charge_category"] == "Credit"]
    assert len(credit) == 1 and credit[0].value == pytest.approx(-2.6137)
    assert {s.labels["billing_period"] for s in mtd} == {"2024-09", "2024-10"}


def test_tags_become_labels_without_changing_totals():
    p = focus([FOCUS_SAMPLE], ["ProviderName", "ServiceCategory"], ["environment", "ms:Department"])
    assert ledger_totals(p) == SAMPLE_TOTALS
    text = exposition(refreshed(p))
    mtd = samples(text, "promcast_cost_billing_period_usd")
    assert {s.labels["tag_environment"] for s in mtd} >= {"dev", "prod", ""}
    assert "tag_ms_Department" in mtd[0].labels
    assert all(
        s.labels["service"] == "" and s.labels["region"] == "" for s in mtd
    )  # not configured
    promtool_check(text)


def test_hourly_rate_and_newest_charge_period(sample_rows):
    text = exposition(refreshed(focus([FOCUS_SAMPLE])))
    newest = {
        s.labels["provider"]: s.value
        for s in samples(text, "promcast_billing_data_last_timestamp_seconds")
    }
    utc = lambda s: dt.datetime.fromisoformat(s).replace(tzinfo=dt.timezone.utc).timestamp()  # noqa: E731
    # ProviderName is labelled in the API providers' vocabulary.
    cloud = {"AWS": "aws", "Microsoft": "azure", "Oracle": "oci"}
    assert newest == {
        label: max(utc(r["ChargePeriodEnd"]) for r in sample_rows if r["ProviderName"] == prov)
        for prov, label in cloud.items()
    }
    # AWS's newest complete hour is 23:00-24:00 on 30 September: its rate is that hour's charges.
    last_hour = sum(
        Decimal(r["BilledCost"])
        for r in sample_rows
        if r["ProviderName"] == "AWS" and r["ChargePeriodStart"] == "2024-09-30 23:00:00"
    )
    rate = sum(
        s.value
        for s in samples(text, "promcast_cost_hourly_rate_usd")
        if s.labels["provider"] == "aws" and s.labels["cost_type"] == "billed"
    )
    assert rate == pytest.approx(float(last_hour), abs=1e-12)
    # Microsoft reports daily charge periods: the rate is the newest day's cost spread per hour.
    last_day = sum(
        Decimal(r["BilledCost"])
        for r in sample_rows
        if r["ProviderName"] == "Microsoft" and r["ChargePeriodEnd"] == "2024-09-20 00:00:00"
    )
    rate = sum(
        s.value
        for s in samples(text, "promcast_cost_hourly_rate_usd")
        if s.labels["provider"] == "azure" and s.labels["cost_type"] == "billed"
    )
    assert rate == pytest.approx(float(last_day) / 24, abs=1e-12)
    promtool_check(text)


def test_history_month_to_date_reaches_the_exact_total():
    p = focus([need_shared(FOCUS_SAMPLE)])
    start = dt.datetime(2024, 9, 1, tzinfo=dt.timezone.utc).timestamp()
    finals, rate_sum = defaultdict(float), defaultdict(float)
    for name, labels, _, v in p.history(start, start + 31 * 86400, 3600):
        known = v[np.isfinite(v)]
        if name == "promcast_cost_month_to_date_usd":
            assert labels["billing_period"] == "2024-09"
            finals[labels["cost_type"]] += known[-1]
        if name == "promcast_cost_hourly_rate_usd":
            rate_sum[labels["cost_type"]] += (
                known.sum()
            )  # one sample per hour: the sum is the spend
    # One Oracle row is billed in October for a September hour; history ends with the data
    # (30 September), before October's month-to-date starts. Every hour's rate includes it.
    october = {
        ct: sum(Decimal(r[i]) for r in _october_rows())
        for ct, i in (("billed", 1), ("effective", 22), ("list", 24))
    }
    for cost_type, total in SAMPLE_TOTALS.items():
        assert finals[cost_type] == pytest.approx(float(total - october[cost_type]), abs=1e-9)
        assert rate_sum[cost_type] == pytest.approx(float(total), abs=1e-9)


def test_bad_rows_are_left_out_and_reported_with_line_numbers(tmp_path, caplog):
    good = [
        focus_row(),
        focus_row(billed="-0.25", effective="-0.25", listed="-0.25"),
        focus_row(billed="0.00000000001", start="2024-09-02T00:00:00Z", end="2024-09-03T00:00:00Z"),
    ]
    bad = {  # line number in the file -> (row, reason)
        3: (focus_row(billed='"12,5"'), "bad_number"),  # a decimal comma
        5: (focus_row(effective="NULL"), "missing_value"),
        6: (focus_row(currency="EUR"), "unknown_currency"),
        8: (focus_row(start="yesterday"), "bad_timestamp"),
        9: ("1.0,1.0,1.0,USD", "missing_columns"),
        10: (focus_row(listed="abc"), "bad_number"),
        11: (focus_row(end="2024-09-03 09:00:00"), "bad_timestamp"),
        12: (focus_row(tags="{not json"), "bad_tags"),
    }
    lines = [HEADER]
    good_iter = iter(good)
    for n in range(2, 13):
        lines.append(
            bad[n][0]
            if n in bad
            else next(good_iter, focus_row(billed="2", effective="2", listed="2"))
        )
    path = tmp_path / "bill.csv"
    path.write_text("\n".join(lines) + "\n")
    caplog.set_level(logging.WARNING)
    p = focus([path], tags=["env"])
    good_rows = [lines[i - 1] for i in range(2, 13) if i not in bad]
    expected = {ct: sum(Decimal(r.split(",")[i]) for r in good_rows) for i, ct in enumerate(COLUMN)}
    assert ledger_totals(p) == expected
    reported = {(b.line, b.reason) for b in p.files[0].bad}
    assert reported == {(n, reason) for n, (_, reason) in bad.items()}
    for n, (_, reason) in bad.items():
        assert any(
            getattr(r, "line", None) == n
            and getattr(r, "reason", None) == reason
            and getattr(r, "file", None) == str(path)
            for r in caplog.records
        ), (n, reason)
    text = exposition(refreshed(p))
    counted = {
        s.labels["reason"]: s.value for s in samples(text, "promcast_exporter_bad_rows_total")
    }
    assert (
        counted["bad_number"] == 2
        and counted["bad_timestamp"] == 2
        and counted["unknown_currency"] == 1
    )
    assert sum(counted.values()) == len(bad)
    # Reading the same file again counts nothing twice; a new version of it counts again.
    p.refresh(0)
    assert sum(p.bad_rows_total.values()) == len(bad)
    promtool_check(text)


def test_a_file_without_a_cost_column_is_reported_and_the_others_still_count(tmp_path):
    (tmp_path / "good.csv").write_text(HEADER + "\n" + focus_row() + "\n")
    cols = HEADER.split(",")
    broken = ",".join(c for c in cols if c != "BilledCost")
    (tmp_path / "broken.csv").write_text(
        broken
        + "\n"
        + "\n".join(
            ",".join(
                v for c, v in zip(cols, focus_row().split(",", len(cols) - 1)) if c != "BilledCost"
            )
            for _ in range(4)
        )
        + "\n"
    )
    p = focus([tmp_path])
    assert ledger_totals(p)["billed"] == Decimal("1.25")
    broken_file = next(f for f in p.files if f.name.endswith("broken.csv"))
    assert broken_file.bad_counts == {"missing_column": 4}
    assert "BilledCost" in broken_file.bad[0].detail


def test_gzipped_csv_and_parquet_give_the_same_totals(tmp_path):
    import gzip

    import pandas as pd

    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(need_shared(FOCUS_SAMPLE).read_bytes()))
    pd.read_csv(FOCUS_SAMPLE, dtype=str, keep_default_na=False).to_parquet(tmp_path / "b.parquet")
    for name in ("a.csv.gz", "b.parquet"):
        assert ledger_totals(focus([tmp_path / name])) == SAMPLE_TOTALS, name


def test_a_failing_provider_does_not_stop_the_others(tmp_path):
    gone = focus([tmp_path / "missing.csv"])
    ok = focus([need_shared(FOCUS_SAMPLE)])
    ok.name = "focus-ok"  # two providers of one kind need two names
    text = exposition(refreshed(gone, ok))
    assert value(text, "promcast_exporter_refresh_success", provider="focus") == 0.0
    assert value(text, "promcast_exporter_refresh_success", provider="focus-ok") == 1.0
    assert samples(text, "promcast_cost_billing_period_usd")


def test_backfill_since_loads_into_a_tsdb(tmp_path, sample_rows):
    out = tmp_path / "h.om"
    res = run_exporter(
        tmp_path,
        {
            "providers": {
                "demo": {"enabled": False},
                "focus": {
                    "enabled": True,
                    "paths": [str(FOCUS_SAMPLE)],
                    "dimensions": ["ProviderName", "ServiceName"],
                },
            }
        },
        "backfill",
        "--since",
        "2024-09-30T21:00:00Z",
        "--until",
        "2024-10-01T02:00:00Z",
        "--step",
        "1h",
        "--out",
        str(out),
        "--label",
        "job=promcast-exporter",
    )
    assert res.returncode == 0, res.stderr
    rows = parse_om(out.read_text())
    stamps = [r[3] for r in rows]
    assert min(stamps) >= 1727730000 and max(stamps) <= 1727748000
    assert all(r[1]["job"] == "promcast-exporter" for r in rows)
    # At midnight ending September, AWS's month-to-date series hold its whole September spend
    # (Microsoft's data ends on the 20th, before this window).
    at_end = sum(
        Decimal(repr(v))
        for n, lab, v, t in rows
        if n == "promcast_cost_month_to_date_usd"
        and lab["provider"] == "aws"
        and lab["cost_type"] == "billed"
        and t == 1727740800
    )
    aws = sum(
        Decimal(r["BilledCost"])
        for r in sample_rows
        if r["ProviderName"] == "AWS" and r["BillingPeriodStart"] == "2024-09-01 00:00:00"
    )
    assert abs(at_end - aws) < Decimal("1e-9")
    load_into_tsdb(out, tmp_path)


def _october_rows() -> list[list[str]]:
    with open(FOCUS_SAMPLE, newline="", encoding="utf-8") as f:
        return [r for r in csv.reader(f) if r[6] == "2024-10-01 00:00:00"]


def test_backfill_since_a_duration_ago(tmp_path):
    now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    fmt = "%Y-%m-%d %H:%M:%S"
    rows = [
        focus_row(
            start=(now - dt.timedelta(hours=h + 1)).strftime(fmt),
            end=(now - dt.timedelta(hours=h)).strftime(fmt),
        ).replace(
            "2024-09-01 00:00:00", (now - dt.timedelta(hours=h + 1)).strftime("%Y-%m-01 00:00:00")
        )
        for h in range(1, 30)
    ]
    (tmp_path / "recent.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    out = tmp_path / "h.om"
    res = run_exporter(
        tmp_path,
        {"providers": {"focus": {"enabled": True, "paths": [str(tmp_path)]}}},
        "backfill",
        "--since",
        "1d",
        "--step",
        "1h",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    names = {r[0] for r in parse_om(out.read_text())}
    # Only the files wrote history: the demo is off as soon as a real provider is enabled.
    assert "promcast_cost_hourly_rate_usd" in names
    assert "promcast_resource_cpu_utilization_ratio" not in names
    rates = [
        r
        for r in parse_om(out.read_text())
        if r[0] == "promcast_cost_hourly_rate_usd"
        and r[1]["provider"] == "gcp"
        and r[1]["cost_type"] == "billed"
    ]
    assert rates and all(v == pytest.approx(1.25) for _, _, v, _ in rates)
    load_into_tsdb(out, tmp_path)


def test_config_errors_name_their_keys(tmp_path):
    bad = {
        "providers": {
            "focus": {
                "enabled": True,
                "paths": ["s3://bucket/focus/", "", "ftp://x/y"],
                "dimensions": ["ServiceName", "Colour"],
                "tag_keys": ["org", " org"],
                "refresh_interval": "hourly",
            }
        }
    }
    with pytest.raises(ConfigError) as err:
        validate(ExporterConfig, bad)
    text = str(err.value)
    try:
        import boto3  # noqa: F401
    except ImportError:
        assert "providers.focus.paths[0]: s3:// paths need the boto3 package" in text, text
    for expected in (
        "providers.focus.paths[1]: empty path",
        "providers.focus.paths[2]",
        "providers.focus.dimensions: unknown FOCUS column(s) Colour",
        "providers.focus.tag_keys",
        "providers.focus.refresh_interval",
    ):
        assert expected in text, text
    with pytest.raises(ConfigError, match="providers.focus: paths: at least one path"):
        validate(ExporterConfig, {"providers": {"focus": {"enabled": True}}})
    res = run_exporter(tmp_path, bad)
    assert res.returncode == 2 and "providers.focus.dimensions" in res.stderr
    cfg = validate(ExporterConfig, {"providers": {"focus": {"enabled": True, "paths": ["x"]}}})
    assert (
        cfg.providers.focus.refresh_interval == 3600
        and cfg.providers.focus.dimensions == DEFAULT_DIMENSIONS
    )
