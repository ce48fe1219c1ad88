"""Metrics as values: what a collector serves through a fresh registry, and samples read back
from exposition text (prometheus_client's own parsers, no substring matching)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from promcast_common.collector import Provider, SnapshotCollector


def registry(*collectors: Collector) -> CollectorRegistry:
    """A fresh registry holding only ``collectors``."""
    reg = CollectorRegistry()
    for collector in collectors:
        reg.register(collector)
    return reg


def published(result: object) -> CollectorRegistry:
    """A fresh registry serving what the publishing component writes for one target's result
    (:func:`promcast_forecaster.publish.series.publish_result`)."""
    from promcast_common.catalogue import Families
    from promcast_forecaster.publish.series import publish_result

    class Result:
        def collect(self):
            out = Families()
            publish_result(out, result)
            return iter(out)

    return registry(Result())


def exposition(*collectors: Collector) -> str:
    """What /metrics serves from ``collectors`` (the text format Prometheus scrapes)."""
    return generate_latest(registry(*collectors)).decode()


def refreshed(
    *providers: Provider,
    at: Iterable[float | None] = (None,),
    collector: SnapshotCollector | None = None,
) -> SnapshotCollector:
    """A snapshot collector after refreshing each provider at each instant of ``at`` (None: now);
    pass ``collector`` to keep its state across refreshes."""
    collector = collector or SnapshotCollector(list(providers))
    for now in at:
        for p in providers:
            collector.refresh_one(p, now)
    return collector


def samples(text: str, name: str, **labels: str) -> list:
    """Every sample called ``name`` in exposition text whose labels include ``labels``."""
    return [
        s
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The value of the one sample of ``name`` whose labels include ``labels``."""
    found = [s.value for s in samples(text, name, **labels)]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def parse_om(text: str) -> list[tuple[str, dict[str, str], float, int]]:
    """(name, labels, value, timestamp) of every sample in OpenMetrics text."""
    fams = openmetrics_families(text)
    return [(s.name, s.labels, s.value, int(float(s.timestamp))) for f in fams for s in f.samples]
