"""The alert scenarios of tests/test_e2e_scenarios.py on VictoriaMetrics with vmalert, where
nothing is scraped: the scenarios' raw series are imported into VictoriaMetrics, the real
forecaster reads them from it and remote-writes every cycle's results back (as a user without a
Prometheus server runs it), and vmalert replays the real rule file over the window (recording
rules, then alerts with their real ``for:``). The same alerts must fire as on Prometheus, the
healthy fleet's none; and, beyond those scenarios, a disk whose order-by date is within the
notice raises PromcastCapacityOrderDue, and a target whose cycles fail PromcastForecasterStale."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from demo.stack import http_get, wait_until
from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.remote_write import drain
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import PrometheusSource
from tests.helpers.scenarios import EXPECTED, RULES, forecaster_config, scenarios, window
from tests.helpers.vm_fixture import replay_rules, start_victoria_metrics  # noqa: F401 - a fixture

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A target whose every cycle fails at run time (the query parses, the server refuses it).
BROKEN = {"name": "broken", "query": 'label_replace(up, "x", "$1", "job", "(")'}
# A data disk at 60% growing 3 points of its size a day: it crosses 90% in about 10 days, past
# its 7-day lead time (no exhaustion alert) but within the 7-day order notice. Forecast by a
# target whose horizon reaches that far (the demo's disk target looks 7 days ahead).
ORDER_DUE = "order_due"
ORDERS = {
    "name": "disk_orders",
    "step": "1h",
    "history": "14d",
    "season": "1d",
    "horizons": ["1d", "7d", "14d"],
    "capacity": 0.9,
    "lead_time": "7d",
    "query": f'promcast_resource_disk_used_bytes{{scenario="{ORDER_DUE}"}} '
    f'/ promcast_resource_disk_size_bytes{{scenario="{ORDER_DUE}"}}',
}


def order_due_disk(now: float) -> list[tuple[str, dict, np.ndarray, np.ndarray]]:
    ts = now - 1 - 300.0 * np.arange(30 * 288)[::-1]
    labels = {"scenario": ORDER_DUE, "provider": "aws", "resource_id": "data-1", "device": "data"}
    size = np.full(ts.size, 1e12)
    return [
        ("promcast_resource_disk_size_bytes", labels, ts, size),
        (
            "promcast_resource_disk_used_bytes",
            labels,
            ts,
            size * (0.60 - 0.03 * (now - ts) / 86400),
        ),
    ]


def vm_import(url: str, now: float) -> None:
    """The scenarios' series through VictoriaMetrics' JSON-lines import (millisecond stamps)."""
    lines = [
        json.dumps(
            {
                "metric": {"__name__": name, **labels},
                "values": values.tolist(),
                "timestamps": (ts * 1000).astype(np.int64).tolist(),
            }
        )
        for name, labels, ts, values in scenarios(now) + order_due_disk(now)
    ]
    urllib.request.urlopen(
        urllib.request.Request(  # loopback
            f"{url}/api/v1/import", data="\n".join(lines).encode(), method="POST"
        ),
        timeout=60,
    )


def replay_forecaster(cfg: ForecasterConfig, instants: np.ndarray) -> Forecaster:
    """Every target's and budget's cycle at each past instant, each cycle's results
    remote-written stamped at its instant."""
    fc = Forecaster(cfg)
    fc.replay_stamps = True

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            fc.connect_remote_write(session)
            source = PrometheusSource.from_config(cfg.prometheus, session)
            for t in instants:
                for target in fc.targets:
                    ok = await fc.run_cycle(target, source, at=float(t))
                    assert ok or target.name == BROKEN["name"], f"cycle of {target.name} at {t:.0f}"
                for budget in cfg.budgets:
                    assert await fc.run_budget_cycle(budget, source, at=float(t)), budget.name
            assert await drain(fc.remote_write, 60), "remote write did not drain"

    asyncio.run(run())
    return fc


def test_the_scenario_alerts_fire_on_victoria_metrics_with_vmalert(
    start_victoria_metrics, tmp_path: Path
) -> None:
    vm = start_victoria_metrics(retention="100d")  # the scenarios reach 30 days back
    now = time.time() // 60 * 60
    vm_import(vm.url, now)
    vm.flush()
    raw = forecaster_config(vm.url)
    raw["targets"] += [ORDERS, BROKEN]
    raw["remote_write"] = {"url": f"{vm.url}/api/v1/write", "max_sample_age": "1d"}
    cfg = validate(ForecasterConfig, raw, "scenarios")
    start = now - window()
    infer_every = min(t.infer_every for t in cfg.resolved_targets())
    fc = replay_forecaster(cfg, now - infer_every * np.arange(window() // infer_every)[::-1])
    sent = fc.remote_write.samples
    assert sent["sent"] > 0 and sent["sent"] == sum(sent.values()), sent
    vm.flush()
    replay_rules(vm, RULES, start, now, tmp_path)

    def firing() -> set[tuple[str, str]]:
        got = json.loads(
            http_get(
                f"{vm.url}/api/v1/query?"
                + urllib.parse.urlencode(
                    {"query": 'ALERTS{alertstate="firing"}', "time": f"{now:.0f}"}
                ),
                timeout=10,
            )
        )
        return {
            (r["metric"].get("scenario") or r["metric"].get("target", ""), r["metric"]["alertname"])
            for r in got["data"]["result"]
        }

    wait_until(lambda: bool(firing()), 20, "vmalert's ALERTS series in VictoriaMetrics")
    expected = {(e.scenario, e.alertname) for e in EXPECTED} | {
        (ORDER_DUE, "PromcastCapacityOrderDue"),
        ("broken", "PromcastForecasterStale"),
    }
    assert firing() == expected
