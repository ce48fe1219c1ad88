"""The aws provider: Cost Explorer requests and totals (botocore Stubber: moto has no Cost
Explorer data), inventory, CloudWatch and assumed roles on moto, pricing (Stubber: moto has no
Pricing API), partial failure, call costs, exposition, history into a real Prometheus, config."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import time

import numpy as np
import pytest
from botocore.stub import ANY, Stubber
from prometheus_client import CollectorRegistry, generate_latest

from promcast_exporter.config import ExporterConfig
from promcast_common.collector import SnapshotCollector
from promcast_common.config import ConfigError, validate
from promcast_common.openmetrics import write_openmetrics
from tests.helpers.aws import fake_aws_credentials
from tests.helpers.metrics import exposition, refreshed, samples, value
from tests.helpers.processes import promtool_check

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from promcast_exporter.providers.aws import cloudwatch, costexplorer  # noqa: E402 - after the importorskip
from promcast_exporter.providers.aws.inventory import Inventory, Resource  # noqa: E402
from promcast_exporter.providers.aws.meter import Meter  # noqa: E402
from promcast_exporter.providers.aws.provider import AwsProvider  # noqa: E402

DAY, HOUR = 86400, 3600
NOW = dt.datetime(2026, 11, 10, 5, 30, tzinfo=dt.timezone.utc).timestamp()
MONTH0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc).timestamp()
ROLE_A = "arn:aws:iam::111111111111:role/promcast-readonly"
ROLE_B = "arn:aws:iam::222222222222:role/promcast-readonly"
AMI = "ami-12c6146b"  # one of moto's built-in images (listing them all takes seconds)
ONLY_COSTS = {
    "inventory": {"enabled": False},
    "cloudwatch": {"enabled": False},
    "pricing": {"enabled": False},
}


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch, tmp_path):
    fake_aws_credentials(monkeypatch, tmp_path)


@pytest.fixture
def mocked():
    with moto.mock_aws():
        yield


def aws(**cfg) -> AwsProvider:
    full = validate(
        ExporterConfig, {"providers": {"aws": {"enabled": True, "regions": ["us-east-1"], **cfg}}}
    )
    return AwsProvider(full.providers.aws)


def day(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d")


def hour(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount: float) -> dict:
    return {"Amount": repr(amount), "Unit": "USD"}


def result(start: float, end: float, fmt, groups: list, estimated=False, total=None) -> dict:
    r = {
        "TimePeriod": {"Start": fmt(start), "End": fmt(end)},
        "Groups": groups,
        "Estimated": estimated,
    }
    if total is not None:
        r["Total"] = total
    return r


def group(keys: list[str], unblended: float, amortized: float | None = None) -> dict:
    m = {"UnblendedCost": money(unblended)}
    if amortized is not None:
        m["AmortizedCost"] = money(amortized)
    return {"Keys": keys, "Metrics": m}


def dimension_values(*values: str) -> dict:
    return {
        "DimensionValues": [{"Value": v} for v in values],
        "ReturnSize": len(values),
        "TotalSize": len(values),
    }


def ce_stub(p: AwsProvider) -> Stubber:
    stub = Stubber(p.sessions.client(p.cfg.cost_explorer, "ce", "us-east-1"))
    stub.activate()
    return stub


# -- Cost Explorer ---------------------------------------------------------------------------


def test_costs_by_account_service_region_with_pages_empty_keys_and_forecast(mocked):
    p = aws(cost_explorer={"cost_types": ["unblended", "amortized"]}, **ONLY_COSTS)
    stub = ce_stub(p)
    days = [(MONTH0 + i * DAY, MONTH0 + (i + 1) * DAY) for i in range(10)]  # the 10th is today
    span = {"Start": "2026-11-01", "End": "2026-11-11"}
    stub.add_response(
        "get_dimension_values",
        dimension_values("111111111111", "222222222222"),
        {"TimePeriod": span, "Dimension": "LINKED_ACCOUNT", "Context": "COST_AND_USAGE"},
    )
    base = {
        "TimePeriod": span,
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost", "AmortizedCost"],
        "GroupBy": [
            {"Type": "DIMENSION", "Key": "SERVICE"},
            {"Type": "DIMENSION", "Key": "REGION"},
        ],
    }

    def flt(acct):
        return {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [acct]}}

    # Account 111: two pages (first five days, then the rest); tax has no region.
    pages = [days[:5], days[5:]]
    for i, chunk in enumerate(pages):
        resp = {
            "ResultsByTime": [
                result(
                    a,
                    b,
                    day,
                    [
                        group(["Amazon EC2", "us-east-1"], 24.0, 20.0),
                        group(["Tax", "NoRegion"], 2.4, 2.4),
                    ],
                    estimated=a >= days[-1][0],
                )
                for a, b in chunk
            ]
        }
        if i == 0:
            resp["NextPageToken"] = "page-2"
        params = {**base, "Filter": flt("111111111111")}
        if i == 1:
            params["NextPageToken"] = "page-2"
        stub.add_response("get_cost_and_usage", resp, params)
    # Account 222: one day's cost comes as a bare total (no group), the rest nothing.
    stub.add_response(
        "get_cost_and_usage",
        {
            "ResultsByTime": [
                result(
                    a, b, day, [], total={"UnblendedCost": money(4.8), "AmortizedCost": money(4.8)}
                )
                if i == 3
                else result(a, b, day, [])
                for i, (a, b) in enumerate(days)
            ]
        },
        {**base, "Filter": flt("222222222222")},
    )
    for metric, mean in (("UNBLENDED_COST", 600.0), ("AMORTIZED_COST", 500.0)):
        stub.add_response(
            "get_cost_forecast",
            {
                "Total": money(mean),
                "ForecastResultsByTime": [
                    {
                        "TimePeriod": {"Start": "2026-11-10", "End": "2026-12-01"},
                        "MeanValue": repr(mean),
                        "PredictionIntervalLowerBound": repr(mean - 50),
                        "PredictionIntervalUpperBound": repr(mean + 70),
                    }
                ],
            },
            {
                "TimePeriod": {"Start": "2026-11-10", "End": "2026-12-01"},
                "Metric": metric,
                "Granularity": "MONTHLY",
                "PredictionIntervalLevel": 80,
            },
        )
    text = exposition(refreshed(p, at=(NOW,)))
    stub.assert_no_pending_responses()

    mtd = {
        (
            s.labels["sub_account"],
            s.labels["service"],
            s.labels["region"],
            s.labels["cost_type"],
        ): s.value
        for s in samples(text, "promcast_cost_month_to_date_usd")
    }
    assert mtd == {
        ("111111111111", "Amazon EC2", "us-east-1", "billed"): pytest.approx(240.0),
        ("111111111111", "Amazon EC2", "us-east-1", "effective"): pytest.approx(200.0),
        ("111111111111", "Tax", "", "billed"): pytest.approx(24.0),
        ("111111111111", "Tax", "", "effective"): pytest.approx(24.0),
        ("222222222222", "", "", "billed"): pytest.approx(4.8),
        ("222222222222", "", "", "effective"): pytest.approx(4.8),
    }
    s = samples(text, "promcast_cost_month_to_date_usd")[0]
    assert s.labels["provider"] == "aws" and s.labels["billing_account"] == "123456789012"
    assert s.labels["charge_category"] == ""
    # Daily data: the rate is the newest complete day (the 9th) over 24 hours.
    rate = {
        (s.labels["service"], s.labels["cost_type"]): s.value
        for s in samples(text, "promcast_cost_hourly_rate_usd")
        if s.labels["sub_account"] == "111111111111"
    }
    assert rate[("Amazon EC2", "billed")] == pytest.approx(1.0)
    assert rate[("Tax", "effective")] == pytest.approx(0.1)
    (last,) = samples(text, "promcast_billing_data_last_timestamp_seconds")
    assert last.value == days[-1][0]
    est = {
        s.labels["cost_type"]: s.value
        for s in samples(text, "promcast_cost_month_to_date_estimated_ratio")
    }
    assert est["billed"] == pytest.approx(26.4 / 268.8)
    fc = {
        (s.labels["cost_type"], s.labels["bound"]): s.value
        for s in samples(text, "promcast_cost_month_end_forecast_usd")
    }
    assert fc[("billed", "mean")] == pytest.approx(9 * 26.4 + 4.8 + 600)
    assert fc[("effective", "upper")] == pytest.approx(9 * 22.4 + 4.8 + 570)
    # 1 discovery + 3 pages + 2 forecasts, $0.01 each.
    assert p.api_calls["ce:GetCostAndUsage"] == 3 and p.api_calls["ce:GetDimensionValues"] == 1
    cost = {s.labels["api"]: s.value for s in samples(text, "promcast_exporter_api_cost_usd_total")}
    assert cost["ce:GetCostAndUsage"] == pytest.approx(0.03)
    assert sum(cost.values()) == pytest.approx(0.06)
    promtool_check(text)


def test_hourly_rate_and_the_refresh_interval_on_a_fake_clock(mocked):
    p = aws(
        cost_explorer={
            "hourly": True,
            "split_by": "region",
            "cost_types": ["unblended"],
            "forecast": False,
        },
        **ONLY_COSTS,
    )
    stub = ce_stub(p)
    hour_end = NOW // HOUR * HOUR  # 05:00

    def expect(now_hour_end: float) -> None:
        h0 = now_hour_end - 48 * HOUR
        stub.add_response(
            "get_dimension_values",
            dimension_values("eu-west-1"),
            {
                "TimePeriod": {"Start": day(min(h0, MONTH0)), "End": "2026-11-11"},
                "Dimension": "REGION",
                "Context": "COST_AND_USAGE",
            },
        )
        group_by = [
            {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
            {"Type": "DIMENSION", "Key": "SERVICE"},
        ]
        # One region: no filter is needed.
        stub.add_response(
            "get_cost_and_usage",
            {
                "ResultsByTime": [
                    result(
                        MONTH0 + i * DAY,
                        MONTH0 + (i + 1) * DAY,
                        day,
                        [group(["111111111111", "Amazon S3"], 12.0)],
                    )
                    for i in range(10)
                ]
            },
            {
                "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-11"},
                "Granularity": "DAILY",
                "Metrics": ["UnblendedCost"],
                "GroupBy": group_by,
            },
        )
        # Hourly data lags: the newest two hours are still empty.
        stub.add_response(
            "get_cost_and_usage",
            {
                "ResultsByTime": [
                    result(
                        h,
                        h + HOUR,
                        hour,
                        [
                            group(
                                ["111111111111", "Amazon S3"],
                                1.5 if h == now_hour_end - 3 * HOUR else 0.5,
                            )
                        ]
                        if h < now_hour_end - 2 * HOUR
                        else [],
                    )
                    for h in np.arange(h0, now_hour_end, HOUR).tolist()
                ]
            },
            {
                "TimePeriod": {"Start": hour(h0), "End": hour(now_hour_end)},
                "Granularity": "HOURLY",
                "Metrics": ["UnblendedCost"],
                "GroupBy": group_by,
            },
        )

    expect(hour_end)
    collector = SnapshotCollector([p])
    assert collector.refresh_one(p, NOW)
    stub.assert_no_pending_responses()
    # Within the 6h interval nothing is asked (the stub would fail on any call).
    for later in (300, 3600, 6 * HOUR - 1):
        assert collector.refresh_one(p, NOW + later)
    assert p.api_calls == {
        "sts:GetCallerIdentity": 1,
        "ce:GetDimensionValues": 1,
        "ce:GetCostAndUsage": 2,
    }
    expect(hour_end + 6 * HOUR)
    assert collector.refresh_one(p, NOW + 6 * HOUR)
    stub.assert_no_pending_responses()
    reg = CollectorRegistry()
    reg.register(collector)
    text = generate_latest(reg).decode()
    (rate,) = samples(text, "promcast_cost_hourly_rate_usd")
    assert rate.value == pytest.approx(1.5) and rate.labels["region"] == "eu-west-1"
    (last,) = samples(text, "promcast_billing_data_last_timestamp_seconds")
    assert last.value == hour_end + 6 * HOUR - 2 * HOUR


def test_failed_cost_explorer_calls_are_retried_after_30_minutes_not_every_refresh(mocked, caplog):
    p = aws(
        cost_explorer={"forecast": False},
        cloudwatch={"refresh_interval": "1m"},
        inventory={},
        pricing={"enabled": False},
    )
    stub = ce_stub(p)
    for _ in range(2):
        stub.add_client_error("get_dimension_values", "LimitExceededException", "slow down", 400)
    collector = SnapshotCollector([p])
    with caplog.at_level(logging.ERROR):
        for later in (0, 60, 600, 1799, 1800):
            collector.refresh_one(p, NOW + later)
    stub.assert_no_pending_responses()
    assert p.api_calls["ce:GetDimensionValues"] == 2
    assert p.api_calls["ec2:DescribeInstances"] == 1  # inventory: hourly, and it never failed
    assert "lengthen refresh_interval" in caplog.records[-1].action


def test_cost_explorer_windows_are_daily_beyond_14_days_and_hourly_within():
    now = NOW
    ws = costexplorer.windows(int(now - 90 * DAY), int(now - HOUR), now, hourly=True)
    assert [w[2] for w in ws] == ["DAILY", "HOURLY"]
    (_, d1, _), (h0, h1, _) = ws
    assert d1 == h0 and h0 % DAY == 0 and now - h0 <= 14 * DAY and h1 <= now
    assert costexplorer.windows(int(now - 3 * DAY), int(now), now, hourly=False) == [
        (int(now - 3 * DAY) // DAY * DAY, int(now) // DAY * DAY + DAY, "DAILY")
    ]


def test_cost_history_month_to_date_restarts_with_the_month_and_is_nan_beyond_the_data():
    key = ("111111111111", "Amazon EC2", "us-east-1")
    d = [MONTH0 + k * DAY for k in (-2, -1, 0)]  # Oct 30, Oct 31, Nov 1
    fetched = costexplorer.Fetched(
        [costexplorer.Row(key, int(a), int(a + DAY), (24.0,), False) for a in d],
        newest_end=int(MONTH0 + DAY),
    )
    t = np.arange(MONTH0 - 2 * HOUR, MONTH0 + DAY + 3 * HOUR, HOUR)
    out = {
        n: v
        for n, lab, v in costexplorer.history(
            fetched, lambda k: {"provider": "aws", "sub_account": k[0]}, ["billed"], t
        )
    }
    mtd, rate = out["promcast_cost_month_to_date_usd"], out["promcast_cost_hourly_rate_usd"]
    at = {int(x): i for i, x in enumerate(t)}
    assert mtd[at[MONTH0 - HOUR]] == pytest.approx(47.0)  # Oct 30 + Oct 31 up to 23:00
    assert mtd[at[MONTH0]] == pytest.approx(48.0)  # midnight: October's whole total
    assert mtd[at[MONTH0 + HOUR]] == pytest.approx(1.0)  # November's first hour
    assert mtd[at[MONTH0 + DAY]] == pytest.approx(24.0)
    assert np.isnan(mtd[at[MONTH0 + DAY + HOUR]]) and np.isnan(rate[at[MONTH0 + DAY + HOUR]])
    assert np.all(rate[~np.isnan(rate)] == pytest.approx(1.0))
    stamp = out["promcast_billing_data_last_timestamp_seconds"]
    assert stamp[at[MONTH0]] == MONTH0 and stamp[at[MONTH0 + DAY]] == MONTH0 + DAY


# -- inventory, CloudWatch, pricing, accounts ---------------------------------------------------


def launch(session, region: str, n: int, itype: str, app: str, spot: bool = False) -> list[str]:
    ec2 = session.client("ec2", region_name=region)
    extra = {"InstanceMarketOptions": {"MarketType": "spot"}} if spot else {}
    out = ec2.run_instances(
        ImageId=AMI,
        MinCount=n,
        MaxCount=n,
        InstanceType=itype,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": app}]}],
        **extra,
    )
    return [i["InstanceId"] for i in out["Instances"]]


def put_cpu(session, region: str, instance: str, points: list[tuple[float, float]]) -> None:
    """CPUUtilization percent values at Unix times, as EC2 would publish them."""
    session.client("cloudwatch", region_name=region).put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance}],
                "Timestamp": dt.datetime.fromtimestamp(at, dt.timezone.utc),
                "Value": value,
                "Unit": "Percent",
            }
            for at, value in points
        ],
    )


def price_item(usd: str) -> str:
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": "m5.large"}},
            "terms": {
                "OnDemand": {
                    "X.Y": {
                        "priceDimensions": {"X.Y.Z": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}
                    }
                }
            },
        }
    )


def two_by_two(**cfg) -> AwsProvider:
    return aws(
        regions=["us-east-1", "eu-west-1"],
        accounts=[{"role_arn": ROLE_A}, {"role_arn": ROLE_B, "external_id": "promcast-ext"}],
        cost_explorer={"enabled": False},
        inventory={"workload_tag": "team"},
        **cfg,
    )


def test_two_accounts_two_regions_through_assumed_roles(mocked):
    p = two_by_two(pricing={"enabled": False})
    now = time.time()
    ids = {}
    for role in p.cfg.accounts:
        session = p.sessions.session(role)
        for region in ("us-east-1", "eu-west-1"):
            acct = role.role_arn.split(":")[4]
            ids[(acct, region)] = launch(session, region, 1, "m5.large", f"web-{acct[0]}")
            ids[(acct, region)] += launch(
                session, region, 1, "t3.micro", f"batch-{acct[0]}", spot=True
            )
            put_cpu(session, region, ids[(acct, region)][0], [(now - 400, 42.0)])
    text = exposition(refreshed(p, at=(now,)))
    info = samples(text, "promcast_resource_info")
    assert {(s.labels["account"], s.labels["region"]) for s in info} == set(ids)
    for s in info:
        assert s.labels["resource_id"] in ids[(s.labels["account"], s.labels["region"])]
        big = s.labels["instance_type"] == "m5.large"
        assert s.labels["lifecycle"] == ("on-demand" if big else "spot")
        assert s.labels["workload"] == ("web-" if big else "batch-") + s.labels["account"][0]
    vcpus = {s.labels["resource_id"]: s.value for s in samples(text, "promcast_resource_vcpus")}
    mem = {
        s.labels["resource_id"]: s.value for s in samples(text, "promcast_resource_memory_bytes")
    }
    for big, small in ids.values():
        assert (
            vcpus[big] == 2 and mem[big] == 8 * 2**30 and vcpus[small] == 2 and mem[small] == 2**30
        )
    cpu = {
        (s.labels["account"], s.labels["resource_id"]): s.value
        for s in samples(text, "promcast_resource_cpu_utilization_ratio")
    }
    assert cpu == {(a, ids[(a, r)][0]): pytest.approx(0.42) for a, r in ids}
    assert p.api_calls["sts:AssumeRole"] == 2  # once per role, then refreshed only near expiry
    assert value(text, "promcast_exporter_refresh_success", provider="aws") == 1.0
    promtool_check(text)


def test_rds_ebs_and_alb_metrics_map_onto_the_resource_series(mocked):
    p = aws(cost_explorer={"enabled": False}, pricing={"enabled": False})
    session = boto3.Session()
    rds = session.client("rds", region_name="us-east-1")
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        DBInstanceClass="db.m5.large",
        Engine="postgres",
        AllocatedStorage=100,
        MasterUsername="admin",
        MasterUserPassword="not-a-secret-1",
        Tags=[{"Key": "app", "Value": "orders"}],
    )
    ec2 = session.client("ec2", region_name="us-east-1")
    vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=50)["VolumeId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    lb = session.client("elbv2", region_name="us-east-1").create_load_balancer(
        Name="shop", Subnets=subnets, Type="application"
    )["LoadBalancers"][0]
    lb_dim = lb["LoadBalancerArn"].split(":loadbalancer/")[1]
    now = time.time()
    at = dt.datetime.fromtimestamp(now - 400, dt.timezone.utc)
    cw = session.client("cloudwatch", region_name="us-east-1")
    for ns, dim, metrics in (
        (
            "AWS/RDS",
            ("DBInstanceIdentifier", "orders-db"),
            [
                ("CPUUtilization", 35.0),
                ("FreeStorageSpace", 40 * 2**30),
                ("FreeableMemory", 2 * 2**30),
            ],
        ),
        ("AWS/EBS", ("VolumeId", vol), [("VolumeIdleTime", 75.0)]),
        (
            "AWS/ApplicationELB",
            ("LoadBalancer", lb_dim),
            [("RequestCount", 600.0), ("TargetResponseTime", 0.25)],
        ),
    ):
        cw.put_metric_data(
            Namespace=ns,
            MetricData=[
                {
                    "MetricName": m,
                    "Dimensions": [{"Name": dim[0], "Value": dim[1]}],
                    "Timestamp": at,
                    "Value": v,
                }
                for m, v in metrics
            ],
        )
    text = exposition(refreshed(p, at=(now,)))

    def one(name: str, rid: str) -> float:
        (s,) = [s for s in samples(text, name) if s.labels["resource_id"] == rid]
        return s.value

    assert one("promcast_resource_cpu_utilization_ratio", "orders-db") == pytest.approx(0.35)
    assert one("promcast_resource_disk_size_bytes", "orders-db") == 100 * 2**30
    assert one("promcast_resource_disk_used_bytes", "orders-db") == 60 * 2**30
    assert one("promcast_resource_memory_utilization_ratio", "orders-db") == pytest.approx(0.75)
    assert one("promcast_resource_disk_busy_ratio", vol) == pytest.approx(0.75)  # 75 s idle of 300
    assert one("promcast_resource_requests_per_second", "shop") == pytest.approx(2.0)
    assert one("promcast_resource_response_time_seconds", "shop") == pytest.approx(0.25)
    (info,) = [
        s for s in samples(text, "promcast_resource_info") if s.labels["resource_id"] == "orders-db"
    ]
    assert info.labels["workload"] == "orders" and info.labels["instance_type"] == "db.m5.large"
    promtool_check(text)


def test_assumed_role_credentials_are_renewed_before_they_expire(mocked):
    p = two_by_two()
    creds = p.sessions.session(p.cfg.accounts[1]).get_credentials()
    assert "sts:AssumeRole" not in p.api_calls  # assumed when first needed, not at start
    first = creds.get_frozen_credentials()
    assert p.api_calls["sts:AssumeRole"] == 1
    creds.get_frozen_credentials()
    assert p.api_calls["sts:AssumeRole"] == 1  # still valid: reused
    # 50 minutes later the one-hour credentials are within botocore's 15-minute refresh window.
    later = creds._time_fetcher() + dt.timedelta(minutes=50)
    creds._time_fetcher = lambda: later
    assert creds.get_frozen_credentials().access_key != first.access_key
    assert p.api_calls["sts:AssumeRole"] == 2


def test_prices_from_the_pricing_api_cached_between_refreshes(mocked):
    p = aws(cost_explorer={"enabled": False}, cloudwatch={"enabled": False})
    ids = launch(boto3.Session(), "us-east-1", 1, "m5.large", "web")
    stub = Stubber(p.sessions.client(p.cfg.accounts[0], "pricing", "us-east-1"))
    stub.activate()
    filters = [
        {"Type": "TERM_MATCH", "Field": k, "Value": v}
        for k, v in {
            "regionCode": "us-east-1",
            "instanceType": "m5.large",
            "operatingSystem": "Linux",
            "tenancy": "Shared",
            "preInstalledSw": "NA",
            "capacitystatus": "Used",
        }.items()
    ]
    params = {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "Filters": filters}
    stub.add_response(
        "get_products", {"PriceList": [price_item("0.0960000000")], "NextToken": "n"}, params
    )
    stub.add_response("get_products", {"PriceList": []}, {**params, "NextToken": "n"})
    # Inventory refreshes twice, prices once.
    text = exposition(refreshed(p, at=(NOW, NOW + 3600, NOW + 7200)))
    stub.assert_no_pending_responses()
    (price,) = samples(text, "promcast_resource_price_per_hour_usd")
    assert price.value == pytest.approx(0.096) and price.labels["resource_id"] == ids[0]
    assert p.api_calls["pricing:GetProducts"] == 2 and p.api_calls["ec2:DescribeInstances"] == 3


def test_a_type_missing_from_the_price_list_is_not_asked_again_at_every_refresh(mocked):
    p = aws(cost_explorer={"enabled": False}, cloudwatch={"enabled": False})
    launch(boto3.Session(), "us-east-1", 1, "m5.large", "web")
    stub = Stubber(p.sessions.client(p.cfg.accounts[0], "pricing", "us-east-1"))
    stub.activate()
    stub.add_response("get_products", {"PriceList": []})  # the only answer it may need
    exposition(refreshed(p, at=(NOW, NOW + 300, NOW + 600, NOW + 900)))
    stub.assert_no_pending_responses()
    assert p.api_calls["pricing:GetProducts"] == 1


def test_a_failing_region_keeps_the_others_and_its_last_good_data(mocked, caplog):
    p = two_by_two(pricing={"enabled": False})
    for role in p.cfg.accounts:
        for region in ("us-east-1", "eu-west-1"):
            launch(p.sessions.session(role), region, 1, "m5.large", "web")
    collector = SnapshotCollector([p])
    assert collector.refresh_one(p, NOW)
    # Then account B's eu-west-1 is refused: its inventory must stay, the rest must update.
    broken = Stubber(p.sessions.client(p.cfg.accounts[1], "ec2", "eu-west-1"))
    broken.add_client_error("describe_instances", "UnauthorizedOperation", "not allowed", 403)
    broken.activate()
    launch(p.sessions.session(p.cfg.accounts[0]), "us-east-1", 1, "t3.micro", "new")
    with caplog.at_level(logging.ERROR):
        assert not collector.refresh_one(p, NOW + 3600)
    reg = CollectorRegistry()
    reg.register(collector)
    text = generate_latest(reg).decode()
    info = samples(text, "promcast_resource_info")
    assert ("222222222222", "eu-west-1") in {
        (s.labels["account"], s.labels["region"]) for s in info
    }
    assert len(info) == 5  # four from the first refresh, the new one from the second
    assert value(text, "promcast_exporter_refresh_success", provider="aws") == 0.0
    parts = {
        (s.labels["part"], s.labels["account"], s.labels["region"]): s.value
        for s in samples(text, "promcast_exporter_part_refresh_success")
    }
    assert parts.pop(("inventory", "222222222222", "eu-west-1")) == 0
    assert parts.pop(("cloudwatch", "222222222222", "eu-west-1")) == 1  # last inventory is kept
    assert set(parts.values()) == {1}
    (rec,) = [r for r in caplog.records if r.getMessage().startswith("AWS part failed")]
    assert (
        rec.region == "eu-west-1" and rec.account == ROLE_B and "UnauthorizedOperation" in rec.err
    )
    assert "promcast-readonly-policy.json" in rec.action
    assert "testing" not in caplog.text  # no credential is ever logged
    promtool_check(text)


def test_a_provider_whose_first_refresh_is_partial_is_ready(mocked):
    p = two_by_two(pricing={"enabled": False}, cloudwatch={"enabled": False})
    broken = Stubber(p.sessions.client(p.cfg.accounts[0], "ec2", "us-east-1"))
    broken.add_client_error("describe_instances", "RequestExpired", "clock skew", 400)
    broken.activate()
    collector = SnapshotCollector([p])
    assert not collector.refresh_one(p, NOW)
    assert collector.ready() == (True, "ready")


def test_getmetricdata_batches_of_500_with_pages_and_their_cost():
    inv = Inventory(
        "111111111111",
        "us-east-1",
        [
            Resource("ec2", f"i-{n:04d}", "web", "m5.large", "on-demand", 2, 8 * 2**30)
            for n in range(700)
        ],
    )
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    stub = Stubber(cw)
    stamp = dt.datetime.fromtimestamp(NOW // 300 * 300 - 300, dt.timezone.utc)
    ids = [f"q{i}" for i in range(700)]
    first, second = ids[:500], ids[500:]
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": i, "Timestamps": [stamp], "Values": [10.0], "StatusCode": "PartialData"}
                for i in first[:250]
            ],
            "NextToken": "more",
        },
        {
            "MetricDataQueries": ANY,
            "StartTime": ANY,
            "EndTime": ANY,
            "ScanBy": "TimestampDescending",
        },
    )
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": i, "Timestamps": [stamp], "Values": [20.0], "StatusCode": "Complete"}
                for i in first[250:]
            ]
        },
        {
            "MetricDataQueries": ANY,
            "StartTime": ANY,
            "EndTime": ANY,
            "ScanBy": "TimestampDescending",
            "NextToken": "more",
        },
    )
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": i, "Timestamps": [stamp], "Values": [30.0], "StatusCode": "Complete"}
                for i in second
            ]
        },
        {
            "MetricDataQueries": ANY,
            "StartTime": ANY,
            "EndTime": ANY,
            "ScanBy": "TimestampDescending",
        },
    )
    sizes = []
    cw.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **kw: sizes.append(len(params["MetricDataQueries"])),
    )
    calls: dict[str, int] = {}
    meter = Meter(lambda api, n: calls.__setitem__(api, calls.get(api, 0) + n))
    with stub:
        util = cloudwatch.latest(cw, meter, inv, NOW, 300)
    stub.assert_no_pending_responses()
    assert sizes == [500, 500, 200] and calls == {"cloudwatch:GetMetricData": 3}
    assert meter.cost_usd["cloudwatch:GetMetricData"] == pytest.approx(0.012)
    values = sorted(v for _, v in util.values)
    assert len(values) == 700 and values[0] == 0.1 and values[-1] == 0.3


# -- history -------------------------------------------------------------------------------------


@pytest.mark.integration
def test_history_backfills_into_prometheus(mocked, start_prometheus):
    p = aws(
        cost_explorer={"cost_types": ["unblended"], "forecast": False}, pricing={"enabled": False}
    )
    now = time.time()
    step = 300
    end = (now // step) * step - step
    start = end - 6 * HOUR
    (iid,) = launch(boto3.Session(), "us-east-1", 1, "m5.large", "web")
    put_cpu(
        boto3.Session(),
        "us-east-1",
        iid,
        [(start - 300 + k * 300, 10.0 + k % 5) for k in range(int((end - start) // 300) + 2)],
    )
    stub = ce_stub(p)
    m0 = costexplorer.month_start(int(start - HOUR))
    d1 = int(-(-end // DAY) * DAY)
    span = {"Start": day(m0), "End": day(d1)}
    stub.add_response(
        "get_dimension_values",
        dimension_values("123456789012"),
        {"TimePeriod": span, "Dimension": "LINKED_ACCOUNT", "Context": "COST_AND_USAGE"},
    )
    stub.add_response(
        "get_cost_and_usage",
        {
            "ResultsByTime": [
                result(a, a + DAY, day, [group(["Amazon EC2", "us-east-1"], 48.0)])
                for a in range(m0, d1, DAY)
            ]
        },
        {
            "TimePeriod": span,
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [
                {"Type": "DIMENSION", "Key": "SERVICE"},
                {"Type": "DIMENSION", "Key": "REGION"},
            ],
        },
    )
    series = [
        (n, {**lab, "job": "promcast-exporter"}, t, v)
        for n, lab, t, v in p.history(start, end, step)
    ]
    stub.assert_no_pending_responses()
    for name, _, t, _v in series:
        assert t[0] == start and t[-1] <= end and np.all(np.diff(t) == step), name
    buf = io.StringIO()
    assert write_openmetrics(series, buf) > 0
    names = {s[0] for s in series}
    assert {
        "promcast_cost_hourly_rate_usd",
        "promcast_cost_month_to_date_usd",
        "promcast_resource_cpu_utilization_ratio",
    } <= names
    rate = next(v for n, _, _, v in series if n == "promcast_cost_hourly_rate_usd")
    assert np.nanmax(rate) == pytest.approx(2.0) and not np.isnan(rate).all()
    prom = start_prometheus(buf.getvalue())
    import requests

    def query(q: str) -> list:
        r = requests.get(f"{prom.url}/api/v1/query", params={"query": q, "time": end}, timeout=10)
        return r.json()["data"]["result"]

    (mtd,) = query('promcast_cost_month_to_date_usd{provider="aws"}')
    newest_hour = end // HOUR * HOUR - HOUR  # the month is that of the newest complete hour
    hours_done = (newest_hour + HOUR - costexplorer.month_start(int(newest_hour))) / HOUR
    assert float(mtd["value"][1]) == pytest.approx(2.0 * hours_done)
    (cpu,) = query("promcast_resource_cpu_utilization_ratio")
    assert cpu["metric"]["resource_id"] == iid and 0.1 <= float(cpu["value"][1]) <= 0.14


@pytest.mark.integration
def test_cli_backfill_writes_cloudwatch_history_promtool_loads(mocked, tmp_path):
    import yaml

    from promcast_exporter.cli import main
    from tests.helpers.metrics import parse_om
    from tests.helpers.processes import load_into_tsdb

    (iid,) = launch(boto3.Session(), "eu-west-1", 1, "m5.large", "web")
    now = time.time()
    put_cpu(boto3.Session(), "eu-west-1", iid, [(now - k * 300, 50.0) for k in range(2, 14)])
    cfg = tmp_path / "exporter.yml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "providers": {
                    "demo": {"enabled": False},
                    "aws": {
                        "enabled": True,
                        "regions": ["eu-west-1"],
                        "cost_explorer": {"enabled": False},
                        "pricing": {"enabled": False},
                    },
                }
            }
        )
    )
    out = tmp_path / "aws.om"
    assert (
        main(
            [
                "--config.file",
                str(cfg),
                "--log.level",
                "error",
                "backfill",
                "--since",
                "1h",
                "--step",
                "5m",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = parse_om(out.read_text())
    assert rows and {r[0] for r in rows} == {"promcast_resource_cpu_utilization_ratio"}
    assert all(r[2] == pytest.approx(0.5) and r[1]["resource_id"] == iid for r in rows)
    load_into_tsdb(out, tmp_path)


# -- config --------------------------------------------------------------------------------------


def test_config_errors_name_their_keys():
    bad = {
        "providers": {
            "aws": {
                "enabled": True,
                "regions": ["us-east-1", "Frankfurt"],
                "accounts": [
                    {"role_arn": "arn:aws:iam::12:role/x"},
                    {"external_id": "abc"},
                    {"regions": ["eu-west-1"], "colour": "red"},
                ],
                "cost_explorer": {
                    "refresh_interval": "5m",
                    "cost_types": ["unblended", "list"],
                    "split_by": "service",
                },
                "cloudwatch": {"period": "90s"},
                "pricing": {"refresh_interval": "daily"},
            }
        }
    }
    with pytest.raises(ConfigError) as err:
        validate(ExporterConfig, bad)
    text = str(err.value)
    for expected in (
        "providers.aws.regions: not an AWS region name: 'Frankfurt'",
        "providers.aws.accounts[0].role_arn: not an IAM role ARN",
        "providers.aws.accounts[1]: external_id: only used with role_arn",
        "providers.aws.accounts[2].colour: unknown key",
        "providers.aws.cost_explorer.refresh_interval",
        "providers.aws.cost_explorer.cost_types[1]",
        "providers.aws.cost_explorer.split_by",
        "providers.aws.cloudwatch.period: must be a multiple of 60s",
        "providers.aws.pricing.refresh_interval: not a duration",
    ):
        assert expected in text, text
    with pytest.raises(ConfigError, match="providers.aws: regions: list the regions"):
        validate(ExporterConfig, {"providers": {"aws": {"enabled": True}}})
    with pytest.raises(ConfigError, match="listed more than once"):
        validate(
            ExporterConfig,
            {
                "providers": {
                    "aws": {
                        "regions": ["us-east-1"],
                        "accounts": [{"role_arn": ROLE_A}, {"role_arn": ROLE_A}],
                    }
                }
            },
        )
    cfg = validate(
        ExporterConfig, {"providers": {"aws": {"enabled": True, "regions": ["eu-west-1"]}}}
    )
    a = cfg.providers.aws
    assert (
        a.cost_explorer.refresh_interval,
        a.cloudwatch.refresh_interval,
        a.inventory.refresh_interval,
        a.pricing.refresh_interval,
    ) == (21600, 300, 3600, 86400)
    assert AwsProvider(a).refresh_interval == 300
    from promcast_exporter.cli import build_providers

    # The demo is off as soon as a real provider is enabled.
    assert [type(p).__name__ for p in build_providers(cfg)] == ["AwsProvider"]


def test_the_iam_policy_allows_exactly_the_calls_made():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    policy = json.loads((root / "deploy/aws/promcast-readonly-policy.json").read_text())
    allowed = {a for st in policy["Statement"] for a in np.atleast_1d(st["Action"]).tolist()}
    used = set()
    for src in (root / "exporter/providers/aws").glob("*.py"):
        if src.name == "billing_store.py":
            continue  # billing files in the user's own bucket, granted per bucket (docs)
        used |= set(re.findall(r'"([a-z0-9]+:[A-Z][A-Za-z]+)"', src.read_text()))
    used.discard("sts:GetCallerIdentity")  # allowed to every identity, needs no policy
    assert allowed == used


def test_the_documented_example_is_a_valid_config(monkeypatch, tmp_path):
    import re
    from pathlib import Path

    from promcast_common.config import load_config

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    section = doc[doc.index("\n### AWS\n") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    monkeypatch.setenv("PROMCAST_AWS_EXTERNAL_ID", "from-the-environment")
    (tmp_path / "exporter.yml").write_text(block)  # ${VAR} is expanded in config files only
    cfg = load_config(ExporterConfig, tmp_path / "exporter.yml").providers.aws
    assert cfg.enabled and cfg.accounts[1].external_id == "from-the-environment"
