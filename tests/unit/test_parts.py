"""The shared partial-failure mechanism every multi-part provider uses: scheduling per part,
retries, last good data, the shared health series and the refresh's outcome."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from promcast_common.catalogue import Families
from promcast_common.collector import PartialRefresh, Provider, SnapshotCollector
from promcast_common.parts import Part, Parts

ROOT = Path(__file__).resolve().parents[2]


class Flaky(Provider):
    """Two parts: ``prices`` every hour (retried after 10 minutes when it fails), ``usage`` at
    every refresh; ``broken`` says which fail now."""

    name = "flaky"

    def __init__(self) -> None:
        super().__init__(60)
        self.broken: set[str] = set()
        self.calls: list[tuple[str, float]] = []
        self.parts = Parts(self.name, "Flaky")
        self.parts.add(
            Part("prices", interval=3600, retry_after=600, account="a1", context={"account": "a1"})
        )
        self.parts.add(Part("usage", account="a1", region="r1", context={"region": "r1"}))

    def work(self, part: Part, now: float) -> float:
        self.calls.append((part.kind, now))
        if part.kind in self.broken:
            raise RuntimeError(f"{part.kind} refused")
        return now

    def refresh(self, now: float) -> list[Metric]:
        self.parts.run_due(now, self.work, kinds=("prices", "usage"))
        out = Families()
        for part in self.parts:
            if part.data is not None:
                out.add(
                    "promcast_exporter_api_calls_total",
                    {"provider": self.name, "api": part.kind},
                    part.data,
                )
        self.parts.report(out)
        return self.parts.finish(list(out))


def sample(collector: SnapshotCollector, name: str, **labels: str) -> float | None:
    reg = CollectorRegistry()
    reg.register(collector)
    return reg.get_sample_value(name, labels)


def test_parts_run_on_their_own_schedule_and_a_failure_is_retried_sooner():
    p = Flaky()
    collector = SnapshotCollector([p])
    assert collector.refresh_one(p, 1000)
    p.broken = {"prices"}
    assert collector.refresh_one(p, 1000 + 3600) is False  # prices due again, and fails
    assert collector.refresh_one(p, 1000 + 3600 + 60) is False  # not retried yet
    p.broken = set()
    assert collector.refresh_one(p, 1000 + 3600 + 600)  # retried after retry_after
    assert [t for kind, t in p.calls if kind == "prices"] == [1000, 4600, 5200]
    assert [t for kind, t in p.calls if kind == "usage"] == [1000, 4600, 4660, 5200]


def test_a_failing_part_keeps_its_last_good_data_and_says_so(caplog):
    p = Flaky()
    collector = SnapshotCollector([p])
    collector.refresh_one(p, 1000)
    p.broken = {"prices"}
    with caplog.at_level(logging.ERROR):
        assert collector.refresh_one(p, 4600) is False
    part = {"provider": "flaky", "account": "a1", "region": ""}
    assert sample(collector, "promcast_exporter_part_refresh_success", part="prices", **part) == 0
    assert (
        sample(
            collector,
            "promcast_exporter_part_last_success_timestamp_seconds",
            part="prices",
            **part,
        )
        == 1000
    )
    assert (
        sample(
            collector,
            "promcast_exporter_part_refresh_success",
            part="usage",
            provider="flaky",
            account="a1",
            region="r1",
        )
        == 1
    )
    # The failed part's last good data is served; the good part's is new.
    assert (
        sample(collector, "promcast_exporter_api_calls_total", provider="flaky", api="prices")
        == 1000
    )
    assert (
        sample(collector, "promcast_exporter_api_calls_total", provider="flaky", api="usage")
        == 4600
    )
    assert sample(collector, "promcast_exporter_refresh_success", provider="flaky") == 0
    (rec,) = [r for r in caplog.records if r.getMessage().startswith("Flaky part failed")]
    assert (rec.provider, rec.account, rec.err, rec.last_success) == (
        "flaky",
        "a1",
        "prices refused",
        1000,
    )


def test_finish_raises_the_given_error_when_every_part_failed():
    parts = Parts("x", "X")
    parts.add(Part("region", account="c", region="r1"))
    parts.run(parts.parts[0], 0, lambda part, now: 1 / 0)
    with pytest.raises(RuntimeError, match="all down: division by zero | cloud y"):
        parts.finish(
            [],
            ["cloud y"],
            all_failed=lambda problems: RuntimeError("all down: " + " | ".join(problems)),
        )
    with pytest.raises(PartialRefresh, match="region c r1, cloud y"):
        parts.finish([], ["cloud y"])


def test_parallel_parts_fail_alone():
    parts = Parts("x", "X")
    for region in ("r1", "r2", "r3"):
        parts.add(Part("region", region=region, key=region))

    def work(part: Part, now: float) -> str:
        if part.key == "r2":
            raise ConnectionError("unreachable")
        return part.key

    parts.run_parallel(parts.parts, 0, work, max_workers=3)
    assert [(p.key, p.ok, p.data) for p in parts] == [
        ("r1", True, "r1"),
        ("r2", False, None),
        ("r3", True, "r3"),
    ]
    assert parts.find("region", "r2").error == "unreachable"


def test_no_provider_imports_another_provider():
    """Shared code lives in common/ or exporter/billing, not in another provider."""
    providers = ROOT / "exporter" / "providers"
    for path in providers.rglob("*.py"):
        own = path.relative_to(providers).parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("promcast_exporter.providers.")
            ):
                other = node.module.split(".")[2]
                # GCP's and Azure's billing exports are FOCUS files, read by the focus layout.
                allowed = {own} | ({"focus"} if own in ("gcp", "azure") else set())
                assert other in allowed, f"{path.relative_to(ROOT)} imports {node.module}"
