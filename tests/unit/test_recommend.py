"""Recommendations on synthetic series with known answers: rightsizing down and up, idle after N
days, commitments on a steady+bursty spend; the report's table, JSON and CSV; config errors."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from promcast_common.catalogue import Families
from promcast_common.config import ConfigError, validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.publish.series import publish_report
from promcast_forecaster.recommend import commitments, idle, sizing
from promcast_forecaster.instance_catalog import GIB, CatalogError, load_catalog
from promcast_forecaster.recommend_config import (
    CommitmentOption,
    Idle,
    Recommendations,
    Rightsizing,
)
from promcast_forecaster.recommend.forecasts import analysis_target, forecast
from promcast_forecaster.recommend.report import (
    Report,
    print_table,
    rows,
    write_file,
)
from promcast_forecaster.source import RawSeries
from tests.helpers.metrics import samples, value

HOUR, DAY = 3600.0, 86400.0
NOW = 1_790_000_000.0 // DAY * DAY + 12 * HOUR
CATALOG = load_catalog()
AWS = {"provider": "aws", "account": "1", "region": "us-east-1", "workload": "w"}


def hourly(values_fn, days: float = 28, labels=None) -> RawSeries:
    t = NOW // HOUR * HOUR - HOUR * np.arange(int(days * 24))[::-1]
    return RawSeries(labels or {}, t, values_fn(t))


def daily_cycle(t, amp):
    return amp * np.sin(2 * np.pi * (t % DAY) / DAY)


def outlook(series: RawSeries, model="seasonal_naive_drift", horizon=30 * DAY, level=95):
    target = analysis_target("t", "q", HOUR, 28 * DAY, DAY, horizon, [level], model)
    [o], skipped = forecast(target, [series], NOW)
    assert skipped == 0
    return o


def test_a_resource_at_10_percent_cpu_for_weeks_gets_a_smaller_type_and_its_saving():
    rng = np.random.default_rng(1)
    cpu = outlook(hourly(lambda t: 0.10 + daily_cycle(t, 0.02) + rng.normal(0, 0.005, t.size)))
    mem = outlook(hourly(lambda t: 0.15 + rng.normal(0, 0.002, t.size)))
    settings = Rightsizing()
    res = sizing.Resource({**AWS, "resource_id": "r1"}, 4, 16 * GIB, 0.192, "m6i.xlarge")
    peak = sizing.peak_upper(cpu.curves, 95)
    assert 0.11 < peak < 0.2  # the daily peak plus the band, not the mean
    z = sizing.size(
        res,
        peak,
        sizing.peak_upper(mem.curves, 95),
        cpu.confidence(95),
        cpu.model,
        CATALOG,
        settings,
        730,
    )
    # Needs ~0.6 vCPU and ~2.9 GiB with 20% headroom: t3.medium (2 vCPU, 4 GiB, $0.0416/h).
    assert z.action == "downsize" and z.recommended_type == "t3.medium"
    assert z.monthly_saving == pytest.approx((0.192 - 0.0416) * 730)
    assert z.price_source == "price_series" and z.basis == "cpu and memory forecasts"


def test_a_growing_resource_gets_a_larger_type_at_a_cost():
    rng = np.random.default_rng(2)
    start = NOW - 28 * DAY
    cpu = outlook(
        hourly(
            lambda t: (
                0.5 + 0.01 * (t - start) / DAY + daily_cycle(t, 0.05) + rng.normal(0, 0.01, t.size)
            )
        )
    )
    mem = outlook(hourly(lambda t: 0.5 + rng.normal(0, 0.002, t.size)))
    res = sizing.Resource({**AWS, "resource_id": "g1"}, 2, 8 * GIB, 0.096, "m6i.large")
    peak = sizing.peak_upper(cpu.curves, 95)
    assert peak > 1.0  # 0.78 now, +1 point a day for 30 days
    z = sizing.size(
        res, peak, sizing.peak_upper(mem.curves, 95), 1.0, cpu.model, CATALOG, Rightsizing(), 730
    )
    assert z.action == "upsize"
    assert z.recommended.vcpus >= z.required_vcpus > 2
    assert z.monthly_saving == pytest.approx((0.096 - z.recommended.price_per_hour) * 730)
    assert z.monthly_saving < 0


def test_sizing_keeps_the_region_price_level_and_the_architecture():
    # eu price 10% above the catalogue's: the recommended type's price carries the same factor.
    res = sizing.Resource({**AWS, "resource_id": "e1"}, 2, 16 * GIB, 0.1008 * 1.1, "r6g.large")
    z = sizing.size(res, 0.1, 0.2, 1.0, "m", CATALOG, Rightsizing(), 730)
    assert z.recommended.arch == "arm64" and z.recommended_type == "m6g.medium"
    assert z.recommended_price == pytest.approx(0.0385 * 1.1)
    # Small savings are not worth a migration; unknown memory is never shrunk.
    tiny = sizing.size(
        res, 0.1, 0.2, 1.0, "m", CATALOG, Rightsizing(min_monthly_saving_usd=100), 730
    )
    assert tiny.action == "keep" and tiny.monthly_saving == 0
    nomem = sizing.size(res, 0.1, math.nan, 1.0, "m", CATALOG, Rightsizing(), 730)
    assert nomem.required_memory_bytes == 16 * GIB and nomem.basis.endswith("memory kept")
    huge = sizing.size(res, 20.0, 0.2, 1.0, "m", CATALOG, Rightsizing(), 730)
    assert huge.action == "no_fitting_type" and huge.recommended is None


def test_idle_needs_n_days_below_the_threshold():
    cfg = Idle(days=7)
    u = idle.Usage({"resource_id": "ci-1"}, 0.03, 0.03, 0.2, 10 * DAY, 1.0, 0.5)
    found = idle.classify(u, cfg, 730)
    assert found.state == "idle" and found.action == "stop" and found.monthly_cost == 365
    young = idle.Usage({"resource_id": "ci-2"}, 0.03, 0.03, 0.2, 5 * DAY, 1.0, 0.5)
    assert idle.classify(young, cfg, 730) is None
    assert idle.classify(young, Idle(days=3), 730).state == "idle"
    over = idle.Usage({"resource_id": "api-1"}, 0.25, 0.2, 0.3, 10 * DAY, 1.0, 1.0)
    assert idle.classify(over, cfg, 730).state == "overprovisioned"
    busy = idle.Usage({"resource_id": "web-1"}, 0.9, 0.6, 0.3, 10 * DAY, 1.0, 1.0)
    assert idle.classify(busy, cfg, 730) is None


def steady_and_bursty(t):
    # $10/h always, plus $20/h during three hours of every day (a nightly batch).
    hour = (t % DAY) // HOUR
    return 10.0 + np.where((hour >= 1) & (hour < 4), 20.0, 0.0)


def test_commitment_is_the_steady_baseline_not_the_mean():
    rng = np.random.default_rng(3)
    target = analysis_target(
        "c", "q", HOUR, 28 * DAY, DAY, 90 * DAY, [50, 80, 95], "seasonal_naive_drift"
    )
    [o], _ = forecast(
        target, [hourly(lambda t: steady_and_bursty(t) + rng.normal(0, 0.2, t.size))], NOW
    )
    opt = CommitmentOption(name="sp1y", term=365 * DAY, discount=0.3)
    p = commitments.plan({"provider": "aws"}, o.curves, opt, 0.1, 730, 1.0, o.model)
    assert p.expected_spend == pytest.approx(12.5, rel=0.05)  # the mean: 10 + 20 * 3/24
    # The baseline, not the mean; lower than $10 as the forecast grows less sure over 90 days.
    assert 7.0 < p.hourly_commitment <= 10.2
    assert p.utilization > 0.95 and 0.55 < p.coverage < 0.85  # bursts stay on demand
    # Used nearly every hour: the saving is about the discount on the baseline.
    assert p.monthly_saving == pytest.approx(730 * 0.3 * p.hourly_commitment, rel=0.1)
    # Never above the discount's quantile, whatever quantile is configured.
    capped = commitments.plan(
        {}, o.curves, CommitmentOption(name="x", term=DAY, discount=0.05), 0.5, 730, 1.0, "m"
    )
    assert capped.quantile == 0.05


def sample_report() -> Report:
    res = sizing.Resource({**AWS, "resource_id": "r1"}, 4, 16 * GIB, 0.192, "m6i.xlarge")
    z = sizing.size(res, 0.12, 0.15, 0.9, "auto", CATALOG, Rightsizing(), 730)
    keep = sizing.size(
        sizing.Resource({**AWS, "resource_id": "r2"}, 2, 8 * GIB, 0.096, "m6i.large"),
        0.6,
        0.6,
        0.9,
        "auto",
        CATALOG,
        Rightsizing(),
        730,
    )
    f = idle.classify(
        idle.Usage({**AWS, "resource_id": "ci-1"}, 0.01, 0.01, 0.1, 9 * DAY, 1.0, 0.5), Idle(), 730
    )
    g = np.full(48, 10.0)
    p = commitments.plan(
        {"provider": "aws"},
        {"mean": g, "lower-80": g - 1, "upper-80": g + 1},
        CommitmentOption(name="sp1y", term=365 * DAY, discount=0.3),
        0.1,
        730,
        0.4,
        "m",
    )
    return Report(Recommendations(), NOW, CATALOG.snapshot, [z, keep], [f], [p])


def test_report_ranks_prints_and_writes_json_and_csv(tmp_path, capsys):
    report = sample_report()
    ranked = rows(report)
    assert [r["kind"] for r in ranked] == ["commitment", "idle", "rightsizing"]
    assert ranked[1]["monthly_saving_usd"] == 365.0 and ranked[1]["action"] == "stop"
    assert len(rows(report, include_keep=True)) == 4
    print_table(report)
    out = capsys.readouterr().out
    assert "ci-1" in out and "m6i.xlarge -> t3.medium" in out and "low 0.40" in out
    assert "730 h a month" in out and "snapshot" not in out.split("\n")[0]
    write_file(report, str(tmp_path / "r.json"))
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["recommendations"][1]["subject"] == "ci-1" and "quantile" in data["explanation"]
    write_file(report, str(tmp_path / "r.csv"))
    lines = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [ln["rank"] for ln in lines] == ["1", "2", "3"] and lines[2]["action"] == "downsize"
    with pytest.raises(ValueError, match=r"\.json or \.csv"):
        write_file(report, str(tmp_path / "r.txt"))


def test_report_publishes_catalogued_series():
    out = Families()
    publish_report(out, sample_report())
    text = {m.name: m.samples for m in out}
    saving = {
        s.labels["resource_id"]: s.value for s in text["promcast_rightsizing_monthly_saving_usd"]
    }
    assert saving["r1"] == pytest.approx((0.192 - 0.0416) * 730) and saving["r2"] == 0
    info = text["promcast_rightsizing_info"][0].labels
    assert (
        info["horizon"] == "30d"
        and info["level"] == "95"
        and info["recommended_type"] == "t3.medium"
    )
    kinds = {s.labels["kind"] for s in text["promcast_recommendation_monthly_saving_usd"]}
    assert kinds == {"idle", "rightsizing", "commitment"}
    assert text["promcast_idle_monthly_cost_usd"][0].labels["state"] == "idle"


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError) as exc:
        validate(
            ForecasterConfig,
            {
                "recommendations": {
                    "rightsizing": {"level": 120, "headroom": -1},
                    "commitments": {"options": [{"name": "a", "term": "1y", "discount": 1.5}]},
                    "labels": ["provider"],
                }
            },
        )
    text = "\n".join(exc.value.problems)
    for key in (
        "recommendations.rightsizing.level",
        "recommendations.rightsizing.headroom",
        "recommendations.commitments.options[0].discount",
    ):
        assert key in text, text
    with pytest.raises(ConfigError, match="already the name of a target"):
        validate(
            ForecasterConfig,
            {"targets": [{"name": "recommendations", "query": "up"}], "recommendations": {}},
        )
    bad = tmp_path / "types.yaml"
    bad.write_text(
        "snapshot: x\ninstance_types:\n  aws:\n    - {name: a, vcpus: -2, memory_gib: 1, price_per_hour: 1}\n"
    )
    with pytest.raises(CatalogError, match=r"types.yaml: instance_types.aws.0.vcpus"):
        load_catalog(str(bad))
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(str(tmp_path / "missing.yaml"))


def test_a_user_catalogue_extends_and_overrides_the_builtin(tmp_path):
    own = tmp_path / "types.yaml"
    own.write_text(
        "snapshot: 2026-11 negotiated\ninstance_types:\n  aws:\n"
        "    - {name: t3.medium, vcpus: 2, memory_gib: 4, price_per_hour: 0.03}\n"
        "  onprem:\n    - {name: small, vcpus: 2, memory_gib: 4, price_per_hour: 0.01}\n"
    )
    cat = load_catalog(str(own))
    assert cat.get("aws", "t3.medium").price_per_hour == 0.03 and cat.get("onprem", "small")
    assert cat.get("aws", "m6i.large") is not None and "negotiated" in cat.snapshot


def test_cli_refuses_an_unknown_output_format(tmp_path, capsys):
    from promcast_forecaster.cli import main

    assert main(["recommend", "--out", str(tmp_path / "x.txt")]) == 2
    assert ".json or .csv" in capsys.readouterr().err


def test_a_failed_cycle_keeps_the_last_report_marked_stale():
    import asyncio

    from prometheus_client import CollectorRegistry, generate_latest

    from promcast_forecaster.service import Forecaster
    from promcast_forecaster.source import SourceUnavailable

    class Down:
        async def query_range(self, *args, **kwargs):
            raise SourceUnavailable("cannot query http://127.0.0.1:9: connection refused")

    fc = Forecaster(validate(ForecasterConfig, {"recommendations": {}}))
    fc.report = sample_report()
    assert asyncio.run(fc.run_recommendations_cycle(Down())) is False
    health = fc.health["recommendations"]
    assert health.stale and not health.up and health.errors == 1
    reg = CollectorRegistry()
    reg.register(fc)
    text = generate_latest(reg).decode()
    assert value(text, "promcast_forecaster_results_stale", target="recommendations") == 1.0
    assert samples(text, "promcast_rightsizing_info")  # the last good report is still published


def test_a_broken_instance_types_file_is_a_config_error(tmp_path):
    import pytest

    from promcast_common.config import ConfigError, validate
    from promcast_forecaster.config import ForecasterConfig

    bad = tmp_path / "types.yaml"
    bad.write_text("instance_types: {aws: [{name: x, vcpus: -1}]}\n")
    with pytest.raises(ConfigError, match="instance_types_file: instance types file"):
        validate(ForecasterConfig, {"recommendations": {"instance_types_file": str(bad)}})


def test_window_queries_are_evaluated_once_and_memory_read_only_for_rightsizing():
    # quantile_over_time over a week scans a week of samples per evaluation: one evaluation,
    # not one every five minutes of a lookback, and the same query is not asked twice.
    import asyncio

    from promcast_forecaster.recommend.runner import Runner

    class Recording:
        calls: list = []

        async def query_range(self, query, start, end, step, timeout=None):
            self.calls.append((query, start, end))
            return []

    cfg = validate(
        ForecasterConfig,
        {
            "recommendations": {
                "rightsizing": {"enabled": False},
                "commitments": {"enabled": False},
                "idle": {"cpu_quantile": 0.95},
            }
        },
    ).recommendations
    src = Recording()
    asyncio.run(Runner(cfg, src).run(now=1_790_000_000.0))
    windows = [(q, a, b) for q, a, b in src.calls if q.startswith("quantile_over_time")]
    assert len(windows) == 2 and all(a == b for _, a, b in windows)
    assert not any(q == cfg.rightsizing.memory for q, _, _ in src.calls)


def test_a_resource_that_stopped_reporting_is_retired_not_called_idle():
    # A VM deleted five days ago still has two days of low CPU inside the idle window, but no
    # price any more: it was reported "idle ... stop, $ nan a month" as if it were running.
    import asyncio

    from promcast_forecaster.recommend.runner import Runner

    live = {**AWS, "resource_id": "live-1"}
    gone = {**AWS, "resource_id": "gone-1"}
    low = lambda t: 0.02 + 0.001 * np.sin(2 * np.pi * t / DAY)  # noqa: E731

    class Fleet:
        async def query_range(self, query, start, end, step, timeout=None):
            def series(labels, last, fn):
                t = np.arange(end - (end - start) // step * step, min(end, last) + 1, step)
                return [RawSeries(labels, t, fn(t))] if len(t) else []

            if query.startswith("quantile_over_time"):  # Prometheus' answer over the window
                return [RawSeries(lab, np.array([end]), np.array([0.021])) for lab in (live, gone)]
            if query == "promcast_resource_cpu_utilization_ratio":
                return series(live, end, low) + series(gone, NOW - 5 * DAY, low)
            if query == "promcast_resource_info":
                return series({**live, "instance_type": "m5.xlarge"}, end, np.ones_like)
            known = {
                "promcast_resource_vcpus": 4.0,
                "promcast_resource_memory_bytes": 16 * GIB,
                "promcast_resource_price_per_hour_usd": 0.192,
                "promcast_resource_memory_utilization_ratio": 0.3,
            }
            return series(live, end, lambda t: np.full(len(t), known[query]))

    cfg = validate(
        ForecasterConfig,
        {
            "recommendations": {
                "rightsizing": {"model": "seasonal_naive_drift"},
                "commitments": {"enabled": False},
                "idle": {"cpu_quantile": 0.95},
            }
        },
    ).recommendations
    assert cfg.staleness_seconds == 3 * HOUR  # the default: three rightsizing steps
    report = asyncio.run(Runner(cfg, Fleet(), CATALOG).run(now=NOW))
    assert {f.labels["resource_id"] for f in report.idle} == {"live-1"}
    assert all(math.isfinite(f.monthly_cost) for f in report.idle)
    assert {z.labels["resource_id"] for z in report.sizings} <= {"live-1"}
    assert report.skipped["retired"] == 1
    out = Families()
    publish_report(out, report)
    assert [
        s.value
        for m in out
        for s in m.samples
        if s.name == "promcast_recommendation_skipped_series" and s.labels["kind"] == "retired"
    ] == [1]
    with pytest.raises(ConfigError, match="staleness is shorter than commitments.step"):
        validate(
            ForecasterConfig,
            {"recommendations": {"staleness": "2h", "commitments": {"step": "1d"}}},
        )
    # A longer staleness keeps it: a week-old silence is still within it.
    patient = cfg.model_copy(update={"staleness": 6 * DAY})
    again = asyncio.run(Runner(patient, Fleet(), CATALOG).run(now=NOW))
    assert "gone-1" in {f.labels["resource_id"] for f in again.idle}


@pytest.mark.parametrize(
    "labels, says",
    [
        ({"resource_id": "n1"}, "no provider label"),
        ({"provider": "", "resource_id": "n1"}, "no provider label (or it is empty)"),
        (
            {"provider": "hetzner", "resource_id": "n1"},
            "'hetzner' is not in the instance catalogue",
        ),
    ],
)
def test_a_resource_without_a_known_provider_says_so_instead_of_no_type_fits(labels, says):
    # 2 vCPU at 10%: any catalogue would fit it; without a provider none can be compared.
    res = sizing.Resource(labels, 2, 8 * GIB, 0.1, "m6i.large")
    z = sizing.size(res, 0.1, 0.2, 1.0, "m", CATALOG, Rightsizing(), 730)
    assert z.action == "unknown_provider" and z.recommended is None and z.monthly_saving == 0
    assert says in z.detail() and "no catalogue type is that big" not in z.detail()


class IdleFleet:
    """Every resource at 2% CPU for four weeks, sized and priced: idle (stop it). Answers the
    runner's queries with the resources' own labels, whatever their scheme."""

    def __init__(self, resources: list[dict[str, str]]) -> None:
        self.resources = resources

    async def query_range(self, query, start, end, step, timeout=None):
        t = np.arange(end - (end - start) // step * step, end + 1, step)
        if query.startswith("quantile_over_time"):
            return [RawSeries(lab, np.array([end]), np.array([0.021])) for lab in self.resources]
        if query == "promcast_resource_info":
            return [
                RawSeries({**lab, "instance_type": "m5.xlarge"}, t, np.ones(len(t)))
                for lab in self.resources
            ]
        known = {
            "promcast_resource_cpu_utilization_ratio": 0.02,
            "promcast_resource_vcpus": 4.0,
            "promcast_resource_memory_bytes": 16 * GIB,
            "promcast_resource_price_per_hour_usd": 0.192,
            "promcast_resource_memory_utilization_ratio": 0.3,
        }
        return [RawSeries(lab, t, np.full(len(t), known[query])) for lab in self.resources]


def idle_report(identity: list[str] | None, resources: list[dict[str, str]]) -> Report:
    import asyncio

    from promcast_forecaster.recommend.runner import Runner

    settings = {
        "rightsizing": {"model": "seasonal_naive_drift"},
        "commitments": {"enabled": False},
        "labels": ["provider"],
    }
    if identity is not None:
        settings["identity_labels"] = identity
    cfg = validate(ForecasterConfig, {"recommendations": settings}).recommendations
    return asyncio.run(Runner(cfg, IdleFleet(resources), CATALOG).run(now=NOW))


@pytest.mark.parametrize(
    "identity, labels, subject",
    [
        (None, {"resource_id": "vm-1"}, "vm-1"),  # promcast's exporter: the default
        (["instance_id"], {"instance_id": "i-5abac7"}, "i-5abac7"),  # CloudWatch
        (["namespace", "pod"], {"namespace": "shop", "pod": "cart-0"}, "namespace=shop pod=cart-0"),
        (["instance"], {"instance": "db1:9100"}, "db1:9100"),  # node_exporter
    ],
)
def test_recommendations_name_resources_by_their_identity_labels(identity, labels, subject):
    report = idle_report(identity, [{"provider": "aws", **labels}])
    [rec] = [r for r in rows(report) if r["kind"] == "idle"]
    assert rec["subject"] == subject and rec["action"] == "stop"
    # The identity labels are published on the series, with `labels` (here provider).
    out = Families()
    publish_report(out, report)
    [cost] = [s for m in out for s in m.samples if s.name == "promcast_idle_monthly_cost_usd"]
    assert cost.labels == {"provider": "aws", **labels, "state": "idle", "days": "7"}
    assert report.skipped["unnamed"] == 0
    # The rules name a resource in alert texts by the labels the settings series lists.
    [settings] = [
        s for m in out for s in m.samples if s.name == "promcast_recommendation_settings_info"
    ]
    assert settings.labels["identity_labels"] == ",".join(identity or ["resource_id"])


def test_a_series_without_an_identity_label_is_skipped_and_the_log_names_the_label(caplog):
    with caplog.at_level("WARNING", logger="promcast.forecaster.recommend"):
        report = idle_report(
            ["instance_id"],
            [{"provider": "aws", "instance_id": "i-1"}, {"provider": "aws", "resource_id": "vm-2"}],
        )
    assert [f.labels["instance_id"] for f in report.idle] == ["i-1"]
    assert report.skipped["unnamed"] == 1
    [warning] = [r for r in caplog.records if "identity label" in r.getMessage()]
    assert warning.missing_label == "instance_id" and warning.example["resource_id"] == "vm-2"
    out = Families()
    publish_report(out, report)
    assert [
        s.value
        for m in out
        for s in m.samples
        if s.name == "promcast_recommendation_skipped_series" and s.labels["kind"] == "unnamed"
    ] == [1]


@pytest.mark.parametrize(
    "identity, says",
    [
        ([], "at least 1 item"),
        (["instance-id"], "label names must match"),
        (["pod", "pod"], "names a label twice"),
    ],
)
def test_bad_identity_labels_are_refused_with_where(identity, says):
    with pytest.raises(ConfigError) as err:
        validate(ForecasterConfig, {"recommendations": {"identity_labels": identity}})
    assert any(
        p.startswith("recommendations.identity_labels") and says in p for p in err.value.problems
    ), err.value.problems
