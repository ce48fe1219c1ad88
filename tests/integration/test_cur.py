"""The cur provider: monthly totals of the shared AWS CUR parquet files to the last digit, legacy
and Athena column names, AWS's amortisation, bad rows reported with line or row numbers."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from promcast_exporter.config import ExporterConfig
from promcast_common.config import ConfigError, validate
from promcast_exporter.providers.cur.provider import CurProvider
from promcast_exporter.providers.focus.provider import FocusProvider
from tests.helpers.billing import (
    CUR_DIR,
    HEADER,
    LEGACY,
    MONTHLY_UNBLENDED,
    focus_row,
    ledger_totals,
    legacy_row,
    monthly,
    write_csv,
)
from tests.helpers.metrics import exposition, parse_om, refreshed, samples
from tests.helpers.paths import need_shared
from tests.helpers.processes import load_into_tsdb, promtool_check, run_exporter

# Sums of line_item_unblended_cost per file, as written (checked against the files below too).
DEC_2018 = 1544875200  # 2018-12-15T12:00:00Z: a refresh time within the files' newest month


@pytest.fixture(scope="module")
def workshop() -> CurProvider:
    """The three monthly parquet files, read once for the module (about 335,000 line items)."""
    need_shared(CUR_DIR)
    p = CurProvider(3600, [str(CUR_DIR / "*.parquet")])
    p.refresh(DEC_2018)
    return p


def test_monthly_unblended_totals_equal_the_files_sums(workshop):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from_files = {}
    for f in sorted(CUR_DIR.glob("*.parquet")):
        t = pq.read_table(f, columns=["bill_billing_period_start_date", "line_item_unblended_cost"])
        (start,) = pc.unique(t.column(0)).to_pylist()
        from_files[start.strftime("%Y-%m")] = sum(Decimal(repr(x)) for x in t.column(1).to_pylist())
    assert from_files == MONTHLY_UNBLENDED
    assert monthly(workshop, "billed") == MONTHLY_UNBLENDED
    assert sum(f.rows for f in workshop.files) == 119307 + 124340 + 91264
    assert not any(f.bad_counts for f in workshop.files)
    text = exposition(refreshed(workshop))
    for month, total in MONTHLY_UNBLENDED.items():
        served = sum(
            Decimal(repr(s.value))
            for s in samples(text, "promcast_cost_billing_period_usd")
            if s.labels["cost_type"] == "billed" and s.labels["billing_period"] == month
        )
        assert served.quantize(Decimal("0.01")) == total.quantize(Decimal("0.01"))
    promtool_check(text)


def test_amortized_cost_follows_aws_formula_on_the_workshop_files(workshop):
    import pyarrow.parquet as pq

    cols = [
        "bill_billing_period_start_date",
        "line_item_line_item_type",
        "line_item_unblended_cost",
        "reservation_effective_cost",
        "reservation_unused_amortized_upfront_fee_for_billing_period",
        "reservation_unused_recurring_fee",
    ]
    expected = {}
    for f in sorted(CUR_DIR.glob("*.parquet")):
        df = pq.read_table(f, columns=cols).to_pandas()

        def d(c, df=df):
            return df[c].map(lambda x: Decimal(repr(x)))

        amortized = d("line_item_unblended_cost").where(
            df.line_item_line_item_type == "Usage", Decimal(0)
        )
        amortized += d("reservation_effective_cost").where(
            df.line_item_line_item_type == "DiscountedUsage", Decimal(0)
        )
        amortized += (
            d("reservation_unused_amortized_upfront_fee_for_billing_period")
            + d("reservation_unused_recurring_fee")
        ).where(df.line_item_line_item_type == "RIFee", Decimal(0))
        expected[df.bill_billing_period_start_date[0].strftime("%Y-%m")] = sum(amortized)
    assert monthly(workshop, "effective") == expected
    # No discounts in these accounts: net equals unblended.
    assert monthly(workshop, "net") == MONTHLY_UNBLENDED


def test_athena_style_csv_extract():
    path = need_shared(CUR_DIR / "Oct2018-WorkshopCUR_first3000rows.csv")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    p = CurProvider(3600, [str(path)], ["unblended"])
    assert ledger_totals(p) == {"billed": sum(Decimal(r["line_item_unblended_cost"]) for r in rows)}
    assert p.files[0].rows == 3000 and not p.files[0].bad_counts


ARN = "arn:aws:ec2:us-east-1:111:reserved-instances/abc"
# (type, unblended, net, product name, RI effective, RI unused upfront, RI unused recurring, ARN,
#  SP effective, SP commitment, SP used) -> expected amortized
LINES = [
    (
        ("Usage", "10.00", "9.00", "Amazon Elastic Compute Cloud", "", "", "", "", "", "", ""),
        "10.00",
    ),
    (
        (
            "DiscountedUsage",
            "0",
            "0",
            "Amazon Elastic Compute Cloud",
            "0.6",
            "",
            "",
            ARN,
            "",
            "",
            "",
        ),
        "0.6",
    ),
    (
        (
            "RIFee",
            "22.32",
            "22.32",
            "Amazon Elastic Compute Cloud",
            "",
            "1.5",
            "2.5",
            ARN,
            "",
            "",
            "",
        ),
        "4.0",
    ),
    (("Fee", "100", "100", "Amazon Elastic Compute Cloud", "", "", "", ARN, "", "", ""), "0"),
    (("SavingsPlanCoveredUsage", "5", "5", "", "", "", "", "", "3", "", ""), "3"),
    (("SavingsPlanNegation", "-5", "-5", "", "", "", "", "", "", "", ""), "0"),
    (
        (
            "SavingsPlanRecurringFee",
            "10",
            "10",
            "Savings Plans for AWS Compute usage",
            "",
            "",
            "",
            "",
            "",
            "10",
            "7",
        ),
        "3",
    ),
    (("Credit", "-1", "-1", "Amazon Elastic Compute Cloud", "", "", "", "", "", "", ""), "-1"),
    (("Tax", "0.80", "0.80", "Amazon Elastic Compute Cloud", "", "", "", "", "", "", ""), "0.80"),
]


def test_legacy_columns_amortisation_and_categories(tmp_path):
    path = write_csv(
        tmp_path / "legacy.csv",
        LEGACY,
        [legacy_row(i, *cells) for i, (cells, _) in enumerate(LINES)],
    )
    p = CurProvider(3600, [str(path)])
    totals = ledger_totals(p)
    assert totals["billed"] == sum(Decimal(c[1]) for c, _ in LINES) == Decimal("142.12")
    assert totals["net"] == sum(Decimal(c[2]) for c, _ in LINES)
    assert totals["effective"] == sum(Decimal(a) for _, a in LINES) == Decimal("20.40")
    text = exposition(refreshed(p))
    mtd = samples(text, "promcast_cost_billing_period_usd")
    assert {s.labels["charge_category"] for s in mtd} == {"Usage", "Purchase", "Credit", "Tax"}
    assert {s.labels["service"] for s in mtd} >= {"AmazonEC2", "Amazon Elastic Compute Cloud"}
    assert {
        (s.labels["provider"], s.labels["billing_account"], s.labels["sub_account"]) for s in mtd
    } == {("aws", "999999999999", "111111111111")}
    promtool_check(text)


def test_focus_and_cur_describing_one_cloud_never_collide(tmp_path):
    path = write_csv(tmp_path / "legacy.csv", LEGACY, [legacy_row(0, *LINES[0][0])])
    focus_path = tmp_path / "focus.csv"
    focus_path.write_text(HEADER + "\n" + focus_row().replace("Google", "AWS") + "\n")
    text = exposition(
        refreshed(
            CurProvider(3600, [str(path)]), FocusProvider(3600, [str(focus_path)], ["ProviderName"])
        )
    )
    series = [line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")]
    assert len(series) == len(set(series))
    newest = {
        (s.labels["provider"], s.labels["source"])
        for s in samples(text, "promcast_billing_data_last_timestamp_seconds")
    }
    assert newest == {("aws", "cur"), ("aws", "focus")}


def test_bad_rows_are_left_out_and_reported_with_line_and_row_numbers(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    usage = LINES[0][0]
    rows = [
        legacy_row(0, *usage),  # line 2
        legacy_row(1, "Usage", "n/a", *usage[2:]),  # line 3: bad number
        legacy_row(2, *usage, currency="EUR"),  # line 4
        legacy_row(3, *usage)[:5],  # line 5: short row
        legacy_row(4, *usage, start="2018-13-01T00:00:00Z"),  # line 6
        legacy_row(5, *usage),
    ]  # line 7
    write_csv(tmp_path / "a.csv", LEGACY, rows)
    # No reservation columns: a DiscountedUsage row cannot be amortized (line 3).
    short = [c for c in LEGACY if not c.startswith(("reservation/", "savingsPlan/"))]
    write_csv(
        tmp_path / "b.csv", short, [legacy_row(6, *usage)[:13], legacy_row(7, *LINES[1][0])[:13]]
    )
    pq.write_table(
        pa.table(
            {
                "line_item_line_item_type": ["Usage", "Usage", "Usage"],
                "line_item_unblended_cost": [1.5, float("nan"), 2.25],
                "line_item_currency_code": ["USD", "USD", "XYZ"],
                "line_item_usage_start_date": pa.array(
                    [1538352000_000] * 3, pa.timestamp("ms", tz="UTC")
                ),
                "line_item_usage_end_date": pa.array(
                    [1538355600_000] * 3, pa.timestamp("ms", tz="UTC")
                ),
                "bill_billing_period_start_date": pa.array(
                    [1538352000_000] * 3, pa.timestamp("ms", tz="UTC")
                ),
            }
        ),
        tmp_path / "c.parquet",
    )
    p = CurProvider(3600, [str(tmp_path)], ["unblended", "amortized"])
    totals = ledger_totals(p)
    assert totals == {
        "billed": Decimal("10.00") * 3 + Decimal("1.5"),
        "effective": Decimal("10.00") * 3 + Decimal("1.5"),
    }
    bad = {(Path(f.name).name, b.line, b.reason) for f in p.files for b in f.bad}
    assert bad == {
        ("a.csv", 3, "bad_number"),
        ("a.csv", 4, "unknown_currency"),
        ("a.csv", 5, "missing_columns"),
        ("a.csv", 6, "bad_timestamp"),
        ("b.csv", 3, "missing_column"),
        ("c.parquet", 2, "bad_number"),
        ("c.parquet", 3, "unknown_currency"),
    }
    text = exposition(refreshed(p))
    counted = {
        (Path(s.labels["file"]).name, s.labels["reason"]): s.value
        for s in samples(text, "promcast_exporter_bad_rows_total")
        if s.value
    }
    assert counted == {(f, r): 1.0 for f, _, r in bad}
    promtool_check(text)


def test_backfill_writes_cur_history_when_another_provider_fails(tmp_path):
    path = write_csv(
        tmp_path / "legacy.csv",
        LEGACY,
        [legacy_row(i, *cells) for i, (cells, _) in enumerate(LINES)],
    )
    out = tmp_path / "h.om"
    res = run_exporter(
        tmp_path,
        {
            "providers": {
                "demo": {"enabled": False},
                "focus": {"enabled": True, "paths": [str(tmp_path / "gone.csv")]},
                "cur": {"enabled": True, "paths": [str(path)], "cost_types": ["unblended"]},
            }
        },
        "backfill",
        "--since",
        "2018-10-01",
        "--until",
        "2018-10-01T03:00:00Z",
        "--step",
        "30m",
        "--out",
        str(out),
    )
    assert res.returncode == 1 and "provider=focus" in res.stderr and "history failed" in res.stderr
    rows = parse_om(out.read_text())
    rate: dict[int, float] = {}
    for name, _, v, t in rows:
        if name == "promcast_cost_hourly_rate_usd":
            rate[t] = rate.get(t, 0.0) + v
    # The charges' hour completes at 01:00; from 02:00 the files have no newer hour to report.
    assert rate == {1538355600: pytest.approx(142.12), 1538357400: pytest.approx(142.12)}
    load_into_tsdb(out, tmp_path)


def test_config_errors_name_their_keys():
    with pytest.raises(ConfigError) as err:
        validate(
            ExporterConfig,
            {
                "providers": {
                    "cur": {
                        "enabled": True,
                        "paths": ["x"],
                        "cost_types": ["blended", "net", "net"],
                    }
                }
            },
        )
    assert "providers.cur.cost_types[0]: Input should be 'unblended', 'amortized' or 'net'" in str(
        err.value
    )
    with pytest.raises(
        ConfigError, match="providers.cur.cost_types: cost type listed more than once: net"
    ):
        validate(ExporterConfig, {"providers": {"cur": {"cost_types": ["net", "net"]}}})
    with pytest.raises(ConfigError, match="providers.cur: paths: at least one path"):
        validate(ExporterConfig, {"providers": {"cur": {"enabled": True}}})
    with pytest.raises(ConfigError, match="providers.cur.refrsh_interval: unknown key"):
        validate(ExporterConfig, {"providers": {"cur": {"refrsh_interval": "1h"}}})


def test_budget_spent_query_sees_only_the_current_month(workshop):
    from promcast_common.collector import SnapshotCollector
    from prometheus_client import CollectorRegistry

    collector = SnapshotCollector([workshop])
    collector.refresh_one(workshop, 1542672000)  # 2018-11-20T00:00:00Z
    reg = CollectorRegistry()
    reg.register(collector)
    # The documented budget `spent:` (docs/configuration.md) is sum by (provider) (promcast_cost_month_to_date_usd{cost_type="billed"}):
    # November's spend, not the 7,996.19 of all three months.
    spent = {}
    for m in reg.collect():
        for s in m.samples:
            if s.name == "promcast_cost_month_to_date_usd" and s.labels["cost_type"] == "billed":
                spent[s.labels["provider"]] = spent.get(s.labels["provider"], 0) + s.value
                assert s.labels["billing_period"] == "2018-11"
    assert spent == {"aws": pytest.approx(float(MONTHLY_UNBLENDED["2018-11"]), abs=0.005)}
