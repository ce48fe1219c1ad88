"""``/metrics``: the publisher's series, built when scraped (client_python's custom-collector
pattern); reading them changes nothing."""

from __future__ import annotations

from typing import Iterator

from prometheus_client.core import Metric

from promcast_forecaster.publish.publisher import Publisher
from promcast_forecaster.publish.pusher import RemoteWritePusher


class MetricsCollector:
    def __init__(self, publisher: Publisher, pusher: RemoteWritePusher) -> None:
        self.publisher, self.pusher = publisher, pusher

    def collect(self) -> Iterator[Metric]:
        yield from self.publisher.families(self.pusher.queue)
