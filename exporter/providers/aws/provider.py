"""The ``aws`` provider: Cost Explorer costs and forecast, CloudWatch utilisation, EC2/RDS/EBS/ALB
inventory and EC2 on-demand prices, for several accounts (assumed roles) and regions.

The work is split into parts, each with its own interval and its own last good data: Cost
Explorer and its forecast (for the payer account), inventory and CloudWatch per account and
region, prices. ``refresh()`` runs on the fastest interval and calls only the parts that are
due, so billed APIs are called no more often than configured. A part that fails logs what
failed, where and what to do, keeps serving its last good data and is tried again at the next
refresh (billed Cost Explorer parts after 30 minutes); the snapshot is still replaced with the other parts' new data, and the provider's
``promcast_exporter_refresh_success`` is 0 while any part is failing (per part:
``promcast_exporter_part_refresh_success``).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from prometheus_client.core import Metric

from promcast_exporter.billing.clouds import AWS_COST_TYPES
from promcast_exporter.billing.ledger import month_start
from promcast_common.catalogue import Families
from promcast_common.collector import Provider
from promcast_common.parts import Part, Parts

from . import cloudwatch, costexplorer
from .config import AwsConfig
from .costexplorer import DAY, HOUR, CostData, CostExplorer, Fetched
from .inventory import InstanceTypes, Inventory, list_resources
from .meter import Meter
from .pricing import PRICING_REGION, fetch_prices
from .session import Sessions

log = logging.getLogger(__name__)
CE_REGION = "us-east-1"  # Cost Explorer's one endpoint
# A failed part is tried again at the next refresh, except billed ones: a call that fails after
# some paid pages would pay for them again every few minutes.
RETRY_AFTER = {"cost_explorer": 1800.0, "forecast": 1800.0}

HINTS = {
    "AccessDenied": "grant the actions in deploy/aws/promcast-readonly-policy.json",
    "AccessDeniedException": "grant the actions in deploy/aws/promcast-readonly-policy.json",
    "UnauthorizedOperation": "grant the actions in deploy/aws/promcast-readonly-policy.json",
    "ExpiredToken": "renew the exporter's base credentials",
    "InvalidClientTokenId": "check the exporter's base credentials",
    "DataUnavailableException": "Cost Explorer has no data for the window yet (new account, or "
    "hourly granularity not enabled in its preferences)",
    "Throttling": "retried at the next refresh; lengthen refresh_interval if it persists",
    "ThrottlingException": "retried at the next refresh; lengthen refresh_interval if it persists",
    "LimitExceededException": "retried at the next refresh; lengthen refresh_interval if it "
    "persists",
}


def _why(exc: Exception, part: Part | None = None) -> tuple[str, str]:
    """(what went wrong, what to do), without anything secret: botocore errors carry the
    operation and AWS's message, never credentials."""
    if isinstance(exc, NoCredentialsError):
        return str(exc), (
            "give the exporter AWS credentials through the standard chain "
            "(AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an instance or "
            "container role)"
        )
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        return str(exc), HINTS.get(code, "see the AWS error code")
    if isinstance(exc, BotoCoreError):
        return str(exc), "check the network path to the AWS endpoint"
    return repr(exc), "see the error; the part keeps its last good data"


class AwsProvider(Provider):
    name = "aws"

    def __init__(self, cfg: AwsConfig, base_session: Any = None) -> None:
        super().__init__(cfg.fastest_interval())
        self.cfg = cfg
        self.meter = Meter(self.count_call)
        self.sessions = Sessions(self.meter, base_session)
        self.types = InstanceTypes()
        self.prices: dict[tuple[str, str], float] = {}
        self._asked: set[tuple[str, str]] = set()  # priced or not, since the last full pricing
        self.parts = Parts(self.name, "AWS", _why)
        for account in cfg.accounts:
            for region in account.regions or cfg.regions:
                if cfg.inventory.enabled:
                    self._declare("inventory", cfg.inventory.refresh_interval, account, region)
                if cfg.cloudwatch.enabled:
                    self._declare("cloudwatch", cfg.cloudwatch.refresh_interval, account, region)
        if cfg.pricing.enabled:
            self._declare("pricing", cfg.pricing.refresh_interval)
        if cfg.cost_explorer.enabled:
            self._declare("cost_explorer", cfg.cost_explorer.refresh_interval, cfg.cost_explorer)
            if cfg.cost_explorer.forecast:
                self._declare("forecast", cfg.cost_explorer.refresh_interval, cfg.cost_explorer)
        self._runners: dict[str, Callable[[Part, float], Any]] = {
            "inventory": self._inventory,
            "cloudwatch": self._cloudwatch,
            "pricing": self._pricing,
            "cost_explorer": self._costs,
            "forecast": self._forecast,
        }

    # -- parts ---------------------------------------------------------------------------------

    def _declare(self, kind: str, interval: float, account: Any = None, region: str = "") -> None:
        """One part; ``key`` is (account config, region). The account label is the account's
        id, known only once its role is assumed: see :meth:`_account_label`."""
        who = "" if account is None else (account.role_arn or "standard credentials")
        self.parts.add(
            Part(
                kind,
                interval,
                RETRY_AFTER.get(kind, 0.0),
                region=region,
                context={"part": kind, "account": who, "region": region},
                key=(account, region),
            )
        )

    def _where(self, part: Part) -> dict[str, str]:
        return {"provider": self.name, **part.context}

    @staticmethod
    def _account(part: Part) -> Any:
        return part.key[0]

    def _account_label(self, part: Part) -> str:
        account = self._account(part)
        if account is None:
            return ""
        try:
            return self.sessions.account_id(account)
        except Exception:  # noqa: BLE001 - a label must not fail the refresh; the part says why
            return account.role_arn or ""

    def _run(self, part: Part, now: float) -> None:
        self.parts.run(part, now, self._runners[part.kind])

    def _inventory(self, part: Part, now: float) -> Inventory:
        account = self._account(part)
        clients = {
            s: self.sessions.client(account, s, part.region) for s in ("ec2", "rds", "elbv2")
        }
        resources = list_resources(clients, self.meter, self.cfg.inventory.workload_tag, self.types)
        return Inventory(self.sessions.account_id(account), part.region, resources)

    def _inventory_part(self, part: Part) -> Part | None:
        return next(
            (
                p
                for p in self.parts
                if p.kind == "inventory"
                and self._account(p) is self._account(part)
                and p.region == part.region
            ),
            None,
        )

    def _inventory_of(self, part: Part) -> Inventory:
        inv = self._inventory_part(part)
        if inv is None:
            raise RuntimeError("inventory is disabled")
        if inv.data is None:
            raise RuntimeError(
                "no inventory yet for this account and region (see the "
                "inventory part's error); CloudWatch waits for it"
            )
        return inv.data

    def _cloudwatch(self, part: Part, now: float) -> cloudwatch.Utilisation:
        inv = self._inventory_of(part)
        cw = self.sessions.client(self._account(part), "cloudwatch", part.region)
        return cloudwatch.latest(cw, self.meter, inv, now, int(self.cfg.cloudwatch.period))

    def _wanted_prices(self) -> set[tuple[str, str]]:
        return {
            (p.data.region, t)
            for p in self.parts
            if p.kind == "inventory" and p.data is not None
            for t in p.data.instance_types()
        }

    def _pricing(self, part: Part, now: float, only: set[tuple[str, str]] | None = None) -> None:
        client = self.sessions.client(self.cfg.accounts[0], "pricing", PRICING_REGION)
        wanted = self._wanted_prices() if only is None else only
        found = fetch_prices(client, self.meter, wanted, self.cfg.pricing.operating_system)
        self.prices = {**(self.prices if only is not None else {}), **found}
        # A type the price list lacks is asked again at the next pricing interval, not at
        # every refresh.
        self._asked = wanted | (self._asked if only is not None else set())

    def _explorer(self) -> CostExplorer:
        ce_cfg = self.cfg.cost_explorer
        return CostExplorer(
            self.sessions.client(ce_cfg, "ce", CE_REGION),
            self.meter,
            ce_cfg.cost_types,
            ce_cfg.split_by,
        )

    def _costs(self, part: Part, now: float) -> CostData:
        ce_cfg = self.cfg.cost_explorer
        explorer = self._explorer()
        month0 = month_start(int(now))
        tomorrow = int(now // DAY * DAY + DAY)
        hour_end = int(now // HOUR * HOUR)
        hour_start = hour_end - costexplorer.LIVE_HOURLY_HOURS * HOUR
        values = explorer.split_values(
            min(month0, hour_start if ce_cfg.hourly else month0), tomorrow
        )
        month = explorer.costs(month0, tomorrow, "DAILY", values) if values else Fetched()
        hours = None
        if ce_cfg.hourly:
            hours = explorer.costs(hour_start, hour_end, "HOURLY", values) if values else Fetched()
        return CostData(
            self.sessions.account_id(ce_cfg),
            self._cost_labels(),
            month,
            hours,
            now,
            level=ce_cfg.forecast_level,
        )

    def _cost_labels(self) -> tuple[str, ...]:
        return tuple(AWS_COST_TYPES[c] for c in self.cfg.cost_explorer.cost_types)

    def _forecast(self, part: Part, now: float) -> dict[str, tuple[float, float, float]]:
        return self._explorer().forecast(now, self.cfg.cost_explorer.forecast_level)

    # -- snapshot ------------------------------------------------------------------------------

    def refresh(self, now: float) -> list[Metric]:
        order = ("inventory", "pricing", "cloudwatch", "cost_explorer", "forecast")
        for kind in order:
            for part in self.parts:
                if part.kind != kind:
                    continue
                if part.due(now):
                    self._run(part, now)
                elif kind == "pricing" and part.ok:
                    # New instance types are priced at once, not at the next pricing interval.
                    missing = self._wanted_prices() - set(self.prices) - self._asked
                    if missing:
                        self._priced_now(part, now, missing)
        return self.parts.finish(self._families())

    def _priced_now(self, part: Part, now: float, missing: set[tuple[str, str]]) -> None:
        try:
            self._pricing(part, now, only=missing)
        except Exception as exc:  # noqa: BLE001 - prices of new types can wait a refresh
            what, todo = _why(exc)
            log.warning(
                "pricing new instance types failed; retried at the next refresh",
                extra={**self._where(part), "err": what, "action": todo},
            )

    def _families(self) -> list[Metric]:
        out = Families()
        forecast = next((p.data for p in self.parts if p.kind == "forecast" and p.data), {})
        for part in self.parts:
            if part.data is None:
                continue
            if part.kind == "inventory":
                out.merge(part.data.families(self.prices))
            elif part.kind == "cloudwatch":
                out.merge(part.data.families())
            elif part.kind == "cost_explorer":
                part.data.forecast = forecast
                out.merge(part.data.families())
        self.parts.report(out, self._account_label)
        for api, usd in sorted(self.meter.cost_usd.items()):
            out.add(
                "promcast_exporter_api_cost_usd_total", {"provider": self.name, "api": api}, usd
            )
        return list(out)

    # -- history -------------------------------------------------------------------------------

    def history(
        self, start: float, end: float, step: float
    ) -> Iterator[tuple[str, dict[str, str], np.ndarray, np.ndarray]]:
        """Cost Explorer (daily, the newest 14 days hourly when enabled) and CloudWatch over the
        window. A failing account or region is logged and left out; the rest is written."""
        t = np.arange(start, end + 1, step, dtype=float)
        now = time.time()
        if self.cfg.cost_explorer.enabled:
            part = next(p for p in self.parts if p.kind == "cost_explorer")
            for name, labels, values in self._history_part(
                part, lambda: self._cost_history(t, now)
            ):
                yield name, labels, t, values
        for part in self.parts:
            if part.kind == "cloudwatch":
                for name, labels, values in self._history_part(
                    part, lambda p=part: self._cloudwatch_history(p, t, now)
                ):
                    yield name, labels, t, values
        log.info(
            "history requests made",
            extra={
                "provider": self.name,
                **{
                    api.replace(":", "_"): round(usd, 4)
                    for api, usd in self.meter.cost_usd.items()
                    if usd
                },
            },
        )

    def _history_part(self, part: Part, make: Callable[[], list]) -> list:
        try:
            return make()
        except Exception as exc:  # noqa: BLE001 - write what the other parts have
            what, todo = _why(exc)
            log.error(
                "AWS history failed for a part; it is left out of the backfill",
                extra={**self._where(part), "err": what, "action": todo},
            )
            return []

    def _cost_history(self, t: np.ndarray, now: float) -> list:
        ce_cfg = self.cfg.cost_explorer
        explorer = self._explorer()
        first = month_start(int(t[0] - HOUR))  # month-to-date at t[0] needs its month's start
        last = int(t[-1])
        values = explorer.split_values(first, int(-(-last // DAY) * DAY))
        fetched = Fetched()
        for a, b, gran in costexplorer.windows(first, last, now, ce_cfg.hourly):
            if values and b > a:
                fetched.extend(explorer.costs(a, b, gran, values))
        account = self.sessions.account_id(ce_cfg)
        labels = CostData(account, (), Fetched(), None, now).labels
        return list(costexplorer.history(fetched, labels, self._cost_labels(), t))

    def _cloudwatch_history(self, part: Part, t: np.ndarray, now: float) -> list:
        inv_part = self._inventory_part(part)
        if inv_part is not None and inv_part.data is None:
            self._run(inv_part, now)
        inv = self._inventory_of(part)
        cw = self.sessions.client(self._account(part), "cloudwatch", part.region)
        return list(cloudwatch.history(cw, self.meter, inv, t, now))
