"""The azure provider on generated Cost Management export trees of the documented shape:
<directory>/<export name>/<YYYYMMDD-YYYYMMDD>/<run id>/ with part files and manifest.json."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import logging
import os
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from promcast_exporter.cli import build_providers
from promcast_exporter.config import ExporterConfig
from promcast_common.config import ConfigError, validate
from promcast_exporter.providers.azure.provider import AzureExportProvider
from promcast_exporter.providers.focus.columns import DEFAULT_DIMENSIONS
from tests.helpers.billing import ledger_totals
from tests.helpers.metrics import exposition, parse_om, refreshed, samples, value
from tests.helpers.processes import load_into_tsdb, promtool_check, run_exporter

# FOCUS 1.0 columns as Azure writes them, with some of its x_ columns.
COLUMNS = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "EffectiveCost",
    "ListCost",
    "PricingCategory",
    "ProviderName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ServiceCategory",
    "ServiceName",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "x_BilledCostInUsd",
    "x_EffectiveCostInUsd",
    "x_ListCostInUsd",
    "x_BillingExchangeRate",
    "x_ResourceGroupName",
    "x_SkuMeterCategory",
]
SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
EXPORT = ("exports", "focus-daily")  # <directory>/<export name>


def day(d: dt.date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


def row(
    when: dt.date,
    billed: str,
    service: str = "Virtual Machines",
    currency: str = "USD",
    rate: str = "1",
    **override: str,
) -> dict[str, str]:
    """One daily charge; amounts in the billing currency, x_*InUsd = amount x rate."""
    period = when.replace(day=1)
    nxt = (period + dt.timedelta(days=32)).replace(day=1)
    usd = str(Decimal(billed) * Decimal(rate))
    r = {
        "AvailabilityZone": "",
        "BilledCost": billed,
        "BillingAccountId": "ba-77",
        "BillingAccountName": "Contoso",
        "BillingCurrency": currency,
        "BillingPeriodEnd": day(nxt),
        "BillingPeriodStart": day(period),
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": day(when + dt.timedelta(days=1)),
        "ChargePeriodStart": day(when),
        "EffectiveCost": billed,
        "ListCost": billed,
        "PricingCategory": "Standard",
        "ProviderName": "Microsoft",
        "RegionId": "westeurope",
        "RegionName": "West Europe",
        "ResourceId": f"{SUB}/resourceGroups/shop/providers/Microsoft.Compute/virtualMachines/vm1",
        "ServiceCategory": "Compute",
        "ServiceName": service,
        "SubAccountId": SUB,
        "SubAccountName": "shop-prod",
        "Tags": '{"team": "shop"}',
        "x_BilledCostInUsd": usd,
        "x_EffectiveCostInUsd": usd,
        "x_ListCostInUsd": usd,
        "x_BillingExchangeRate": rate,
        "x_ResourceGroupName": "shop",
        "x_SkuMeterCategory": "Virtual Machines",
    }
    r.update(override)
    return r


def csv_bytes(rows: list[dict[str, str]], raw_lines: dict[int, str] | None = None) -> bytes:
    """CSV text; ``raw_lines`` puts a literal line at a 0-based row position (malformed input)."""
    out = io.StringIO()
    w = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    w.writeheader()
    lines = out.getvalue().splitlines()
    for r in rows:
        buf = io.StringIO()
        csv.DictWriter(buf, COLUMNS, lineterminator="\n").writerow(r)
        lines.append(buf.getvalue().rstrip("\n"))
    for at, text in sorted((raw_lines or {}).items()):
        lines.insert(at + 1, text)
    return ("\n".join(lines) + "\n").encode()


def write_run(
    root: Path,
    period: str,
    parts: dict[str, bytes],
    submitted: str | None,
    run_id: str | None = None,
    manifest_blobs: list[str] | None = None,
    mtime: float | None = None,
    export: tuple[str, str] = EXPORT,
    dataset: str = "FocusCost",
) -> Path:
    """One export run folder; ``submitted=None`` writes no manifest.json."""
    run_id = run_id or str(uuid.uuid4())
    run = root.joinpath(*export, period, run_id)
    run.mkdir(parents=True)
    prefix = "/".join((*export, period, run_id))
    for name, data in parts.items():
        (run / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        if mtime is not None:
            os.utime(run / name, (mtime, mtime))
    if submitted is not None:
        blobs = manifest_blobs if manifest_blobs is not None else list(parts)
        (run / "manifest.json").write_text(
            json.dumps(
                {
                    "manifestVersion": "2024-04-01",
                    "byteCount": sum(len(d) for d in parts.values()),
                    "blobCount": len(blobs),
                    "dataRowCount": 0,
                    "exportConfig": {
                        "exportName": export[1],
                        "resourceId": f"{SUB}/providers/"
                        f"Microsoft.CostManagement/exports/{export[1]}",
                        "dataVersion": "1.0",
                        "type": dataset,
                        "timeFrame": "MonthToDate",
                        "granularity": "Daily",
                    },
                    "deliveryConfig": {
                        "partitionData": True,
                        "dataOverwriteBehavior": "CreateNewReport",
                        "fileFormat": "Csv",
                        "compressionMode": "gzip",
                        "rootFolderPath": export[0],
                    },
                    "runInfo": {
                        "executionType": "Scheduled",
                        "submittedTime": submitted,
                        "runId": run_id,
                        "startDate": f"{period[:4]}-{period[4:6]}-01T00:00:00",
                        "endDate": f"{period[9:13]}-{period[13:15]}-{period[15:17]}T00:00:00",
                    },
                    "blobs": [
                        {"blobName": f"{prefix}/{b}", "byteCount": 0, "dataRowCount": 0}
                        for b in blobs
                    ],
                }
            )
        )
    return run


NOV = [dt.date(2026, 11, d) for d in range(1, 23)]


def month_runs(root: Path) -> tuple[list[dict], list[dict]]:
    """Two month-to-date runs of November: the second re-writes the first's days, plus one."""
    first = [row(d, f"{10 + d.day}.015") for d in NOV[:21]]
    second = [row(d, f"{10 + d.day}.025") for d in NOV] + [row(NOV[-1], "0.004", "Storage")]
    write_run(
        root,
        "20261101-20261130",
        {"part_0_0001.csv.gz": csv_bytes(first)},
        "2026-11-22T06:10:00.1234567Z",
        run_id="run-a",
    )
    # Split into two part files, as large exports are.
    write_run(
        root,
        "20261101-20261130",
        {"part_0_0001.csv.gz": csv_bytes(second[:12]), "part_1_0001.csv": csv_bytes(second[12:])},
        "2026-11-23T06:10:00.7654321Z",
        run_id="run-b",
    )
    return first, second


def provider(root: Path, dims=DEFAULT_DIMENSIONS, tags=()) -> AzureExportProvider:
    return AzureExportProvider(3600, [str(root)], dims, tags)


def total(rows: list[dict], column: str = "x_BilledCostInUsd") -> Decimal:
    return sum((Decimal(r[column]) for r in rows), Decimal(0))


def test_two_runs_of_a_month_count_once_and_to_the_cent(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    _, second = month_runs(tmp_path)
    p = provider(tmp_path)
    totals = ledger_totals(p)
    assert totals == {"billed": total(second), "effective": total(second), "list": total(second)}
    assert totals["billed"] == Decimal("473.554")
    assert [Path(f.name).parent.name for f in p.files] == ["run-b", "run-b"]
    chosen = next(
        r for r in caplog.records if r.getMessage().startswith("reading the newest complete")
    )
    assert chosen.run == "run-b" and chosen.runs == 2
    text = exposition(refreshed(p))
    mtd = [
        s
        for s in samples(text, "promcast_cost_billing_period_usd")
        if s.labels["cost_type"] == "billed"
    ]
    assert {
        (s.labels["provider"], s.labels["source"], s.labels["billing_period"]) for s in mtd
    } == {("azure", "azure", "2026-11")}
    served = sum(Decimal(repr(s.value)) for s in mtd)
    assert served.quantize(Decimal("0.01")) == Decimal("473.55")
    assert {s.labels["sub_account"] for s in mtd} == {SUB}
    promtool_check(text)


def test_a_run_still_being_written_is_not_read(tmp_path):
    _, second = month_runs(tmp_path)
    # Newer, but its manifest lists a part that has not arrived (or it has no manifest yet).
    write_run(
        tmp_path,
        "20261101-20261130",
        {"part_0_0001.csv.gz": csv_bytes(second[:3])},
        "2026-11-24T06:10:00Z",
        run_id="run-c",
        manifest_blobs=["part_0_0001.csv.gz", "part_1_0001.csv.gz"],
    )
    write_run(
        tmp_path,
        "20261101-20261130",
        {"part_0_0001.csv.gz": csv_bytes(second[:2])},
        None,
        run_id="run-d",
    )
    p = provider(tmp_path)
    assert ledger_totals(p)["billed"] == total(second)
    assert {Path(f.name).parent.name for f in p.files} == {"run-b"}


def test_each_billing_period_reads_its_own_newest_run_in_any_format(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, november = month_runs(tmp_path)
    october = [row(dt.date(2026, 10, d), "3.333") for d in range(1, 32)]
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(october), buf)
    write_run(
        tmp_path,
        "20261001-20261031",
        {"part_0_0001.parquet": buf.getvalue()},
        "2026-11-03T06:00:00Z",
    )
    totals = ledger_totals(provider(tmp_path))
    assert (
        totals["billed"]
        == total(november) + total(october)
        == Decimal("473.554") + Decimal("103.323")
    )


def test_without_manifests_the_newest_run_folder_is_read_and_logged(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    older = [row(d, "1.00") for d in NOV[:5]]
    newer = [row(d, "1.00") for d in NOV[:6]]
    write_run(
        tmp_path,
        "20261101-20261130",
        {"part_0_0001.csv": csv_bytes(newer)},
        None,
        run_id="zzz-older-name",
        mtime=1_790_000_000 + 3600,
    )
    write_run(
        tmp_path,
        "20261101-20261130",
        {"part_0_0001.csv": csv_bytes(older)},
        None,
        run_id="aaa-newer-name",
        mtime=1_790_000_000,
    )
    p = provider(tmp_path)
    assert ledger_totals(p)["billed"] == Decimal("6.00")
    warn = next(r for r in caplog.records if "no export run" in r.getMessage())
    assert warn.run == "zzz-older-name" and warn.reason == "no manifest.json"
    assert warn.period.endswith("20261101-20261130")


def test_malformed_rows_are_counted_per_file_and_line(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    good = [row(d, "2.50") for d in NOV[:4]]
    bad_number = row(NOV[4], "2.50", x_BilledCostInUsd="2,50")
    bad_time = row(NOV[5], "2.50", ChargePeriodStart="22/11/2026")
    data = csv_bytes(
        good[:2] + [bad_number] + good[2:] + [bad_time], raw_lines={3: "truncated,row"}
    )
    write_run(
        tmp_path,
        "20261101-20261130",
        {"part_0_0001.csv": data},
        "2026-11-23T06:00:00Z",
        run_id="run-x",
    )
    p = provider(tmp_path)
    assert ledger_totals(p)["billed"] == Decimal("10.00")
    (f,) = p.files
    # Header is line 1; good rows on 2, 3, 6, 7; bad number on 4; the truncated row on 5;
    # bad time on 8.
    assert {(b.line, b.reason) for b in f.bad} == {
        (4, "bad_number"),
        (5, "missing_columns"),
        (8, "bad_timestamp"),
    }
    text = exposition(refreshed(p))
    counted = {
        s.labels["reason"]: s.value
        for s in samples(text, "promcast_exporter_bad_rows_total")
        if s.labels["file"] == f.name and s.value
    }
    assert counted == {"missing_columns": 1, "bad_number": 1, "bad_timestamp": 1}
    assert any(
        getattr(r, "line", None) == 4 and getattr(r, "file", None) == f.name for r in caplog.records
    )
    promtool_check(text)


def test_other_billing_currencies_count_in_dollars(tmp_path):
    rows = [row(d, "10.00", currency="EUR", rate="1.0842") for d in NOV[:3]]
    write_run(
        tmp_path, "20261101-20261130", {"part_0_0001.csv": csv_bytes(rows)}, "2026-11-23T06:00:00Z"
    )
    assert ledger_totals(provider(tmp_path))["billed"] == Decimal("32.526")
    # Without the x_*InUsd columns the focus layout's rule holds: non-USD rows are refused.
    plain = [{k: v for k, v in r.items() if not k.endswith("InUsd")} for r in rows]
    other = tmp_path / "plain"
    write_run(
        other,
        "20261101-20261130",
        {"part_0_0001.csv": csv_bytes_without_usd(plain)},
        "2026-11-23T06:00:00Z",
    )
    p = provider(other)
    assert ledger_totals(p) == {} and p.files[0].bad_counts == {"unknown_currency": 3}


def csv_bytes_without_usd(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, [c for c in COLUMNS if not c.endswith("InUsd")], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode()


def test_a_missing_export_folder_fails_the_refresh_and_keeps_the_others(tmp_path):
    month_runs(tmp_path)
    gone = provider(tmp_path / "nope")
    ok = provider(tmp_path)
    ok.name = "azure-ok"
    text = exposition(refreshed(gone, ok))
    assert value(text, "promcast_exporter_refresh_success", provider="azure") == 0.0
    assert value(text, "promcast_exporter_refresh_success", provider="azure-ok") == 1.0


def test_config_and_backfill(tmp_path):
    with pytest.raises(ConfigError) as err:
        validate(
            ExporterConfig,
            {
                "providers": {
                    "azure": {
                        "enabled": True,
                        "paths": ["abfs://costs@acct.dfs.core.windows.net/exports", ""],
                        "dimensions": ["ServiceName", "x_ResourceGroupName"],
                    }
                }
            },
        )
    text = str(err.value)
    for expected in (
        "providers.azure.paths[0]: 'abfs://",
        "local directories only",
        "providers.azure.paths[1]: empty path",
        "providers.azure.dimensions",
    ):
        assert expected in text, text
    _, second = month_runs(tmp_path / "data")
    config = {
        "providers": {
            "demo": {"enabled": False},
            "azure": {"enabled": True, "paths": [str(tmp_path / "data")]},
        }
    }
    (p,) = build_providers(validate(ExporterConfig, config))
    assert isinstance(p, AzureExportProvider) and p.refresh_interval == 3600
    out = tmp_path / "h.om"
    res = run_exporter(
        tmp_path,
        config,
        "backfill",
        "--since",
        "2026-11-22T00:00:00Z",
        "--until",
        "2026-11-23T00:00:00Z",
        "--step",
        "1h",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    rows = parse_om(out.read_text())
    final = sum(
        Decimal(repr(v))
        for n, lab, v, t in rows
        if n == "promcast_cost_month_to_date_usd"
        and lab["cost_type"] == "billed"
        and t == max(r[3] for r in rows)
    )
    assert abs(final - total(second)) < Decimal("1e-9")
    load_into_tsdb(out, tmp_path)


def test_the_choice_is_logged_once_until_it_changes(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    _, second = month_runs(tmp_path)
    p = provider(tmp_path)
    for _ in range(3):
        p.refresh(0)
    choices = [r for r in caplog.records if "export run" in r.getMessage()]
    assert [r.run for r in choices] == ["run-b"]
    write_run(
        tmp_path,
        "20261101-20261130",
        {"part_0_0001.csv": csv_bytes(second[:1])},
        "2026-11-24T06:00:00Z",
        run_id="run-c",
    )
    p.refresh(0)
    assert [r.run for r in caplog.records if "export run" in r.getMessage()] == ["run-b", "run-c"]
    assert ledger_totals(p)["billed"] == Decimal(second[0]["x_BilledCostInUsd"])


def test_an_export_of_another_dataset_in_the_same_folder_is_skipped(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    _, second = month_runs(tmp_path)
    # An ActualCost export: other columns, which would all be counted as bad rows.
    write_run(
        tmp_path,
        "20261101-20261130",
        {"part_0_0001.csv": b"Date,CostInBillingCurrency\n11/01/2026,5.00\n"},
        "2026-11-23T06:00:00Z",
        export=("exports", "actual-daily"),
        dataset="ActualCost",
    )
    p = provider(tmp_path)
    assert ledger_totals(p)["billed"] == total(second)
    assert all("actual-daily" not in f.name for f in p.files)
    skipped = next(r for r in caplog.records if r.getMessage().startswith("skipping an export"))
    assert skipped.dataset == "ActualCost"
