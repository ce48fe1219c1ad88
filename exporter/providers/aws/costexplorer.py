"""Cost Explorer: costs by linked account, service and region, and AWS's own month-end forecast.

GetCostAndUsage groups by at most two keys, and each request (each page) costs $0.01. The
third key is covered by splitting: one GetDimensionValues call lists the values of the
``split_by`` key that had costs in the window, then one GetCostAndUsage per value filters on it
and groups by the other two (one value: no filter needed). All configured cost types come in
the same request (``Metrics`` takes several), and the discovery is shared by the daily and the
hourly request, so a refresh costs ``1 + values x (1 + hourly)`` requests plus one forecast
per cost type.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
from prometheus_client.core import Metric

from promcast_exporter.billing.ledger import month_start, period_end
from promcast_common.catalogue import Families
from promcast_exporter.billing.clouds import AWS_COST_TYPES as COST_TYPES

from .meter import Meter

log = logging.getLogger(__name__)
HOUR, DAY = 3600, 86400
HOURLY_DAYS = 14  # Cost Explorer keeps hourly data this long
LIVE_HOURLY_HOURS = 48  # hourly data arrives up to a day late: look back two
METRICS = {"unblended": "UnblendedCost", "amortized": "AmortizedCost", "net": "NetUnblendedCost"}
FORECAST_METRICS = {
    "unblended": "UNBLENDED_COST",
    "amortized": "AMORTIZED_COST",
    "net": "NET_UNBLENDED_COST",
}
DIMENSIONS = {"linked_account": "LINKED_ACCOUNT", "service": "SERVICE", "region": "REGION"}
KEY_ORDER = ("linked_account", "service", "region")
NO_VALUE = {"", "NoRegion", "No Region", "NoLinkedAccount"}

Key = tuple[str, str, str]  # (sub_account, service, region)


@dataclass(frozen=True)
class Row:
    """One group's cost over one Cost Explorer time period."""

    key: Key
    start: int
    end: int
    amounts: tuple[float, ...]  # per configured cost type
    estimated: bool


@dataclass
class Fetched:
    rows: list[Row] = field(default_factory=list)
    newest_end: int = 0  # end of the newest period that had any cost (0: none)

    def extend(self, other: "Fetched") -> None:
        self.rows += other.rows
        self.newest_end = max(self.newest_end, other.newest_end)


def _fmt(t: int, granularity: str) -> str:
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    return d.strftime("%Y-%m-%d") if granularity != "HOURLY" else d.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> int:
    d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int((d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)).timestamp())


def _clean(value: str) -> str:
    return "" if value in NO_VALUE else value


class CostExplorer:
    """Requests to one payer account's Cost Explorer, split as the module docstring says."""

    def __init__(self, ce: Any, meter: Meter, cost_types: Sequence[str], split_by: str) -> None:
        self.ce = ce
        self.meter = meter
        self.cost_types = list(cost_types)
        self.split_by = split_by
        self.grouped = [k for k in KEY_ORDER if k != split_by]

    def split_values(self, start: int, end: int) -> list[str]:
        """Values of the split key with costs in [start, end) (days)."""
        kwargs: dict[str, Any] = {
            "TimePeriod": {"Start": _fmt(start, "DAILY"), "End": _fmt(end, "DAILY")},
            "Dimension": DIMENSIONS[self.split_by],
            "Context": "COST_AND_USAGE",
        }
        values: list[str] = []
        while True:
            self.meter.call("ce:GetDimensionValues")
            page = self.ce.get_dimension_values(**kwargs)
            values += [v["Value"] for v in page.get("DimensionValues", [])]
            if not page.get("NextPageToken"):
                return sorted(set(values))
            kwargs["NextPageToken"] = page["NextPageToken"]

    def costs(self, start: int, end: int, granularity: str, values: Sequence[str]) -> Fetched:
        """Every group's cost per period in [start, end): one request chain per split value."""
        out = Fetched()
        for value in values:
            flt = (
                None
                if len(values) == 1
                else {"Dimensions": {"Key": DIMENSIONS[self.split_by], "Values": [value]}}
            )
            out.extend(self._one(start, end, granularity, value, flt))
        return out

    def _one(self, start: int, end: int, granularity: str, value: str, flt: dict | None) -> Fetched:
        kwargs: dict[str, Any] = {
            "TimePeriod": {"Start": _fmt(start, granularity), "End": _fmt(end, granularity)},
            "Granularity": granularity,
            "Metrics": [METRICS[c] for c in self.cost_types],
            "GroupBy": [{"Type": "DIMENSION", "Key": DIMENSIONS[k]} for k in self.grouped],
        }
        if flt is not None:
            kwargs["Filter"] = flt
        out = Fetched()
        while True:
            self.meter.call("ce:GetCostAndUsage")
            page = self.ce.get_cost_and_usage(**kwargs)
            for result in page.get("ResultsByTime", []):
                self._rows(result, value, out)
            if not page.get("NextPageToken"):
                return out
            kwargs["NextPageToken"] = page["NextPageToken"]

    def _rows(self, result: dict, value: str, out: Fetched) -> None:
        start, end = _parse(result["TimePeriod"]["Start"]), _parse(result["TimePeriod"]["End"])
        estimated = bool(result.get("Estimated", False))
        groups = result.get("Groups") or []
        if not groups and any(float(m.get("Amount", 0)) for m in result.get("Total", {}).values()):
            # Costs that fit no group come as a bare total: keep them, with empty keys.
            groups = [{"Keys": [], "Metrics": result["Total"]}]
        for g in groups:
            keys = dict(zip(self.grouped, g.get("Keys") or []))
            keys[self.split_by] = value
            key: Key = (
                _clean(keys.get("linked_account", "")),
                _clean(keys.get("service", "")),
                _clean(keys.get("region", "")),
            )
            amounts = self._amounts(g.get("Metrics", {}), key)
            if amounts is None:
                continue
            out.rows.append(Row(key, start, end, amounts, estimated))
            if any(amounts):
                out.newest_end = max(out.newest_end, end)

    def _amounts(self, metrics: dict, key: Key) -> tuple[float, ...] | None:
        """The group's amount per cost type (absent: 0), or None if not in USD."""
        out = []
        for c in self.cost_types:
            m = metrics.get(METRICS[c], {"Amount": "0", "Unit": "USD"})
            if m.get("Unit", "USD") != "USD":
                log.error(
                    "Cost Explorer answered in a currency other than USD; the group is left "
                    "out (set the account's Cost Explorer currency to USD)",
                    extra={"provider": "aws", "unit": m.get("Unit"), "key": "/".join(key)},
                )
                return None
            out.append(float(m["Amount"]))
        return tuple(out)

    def forecast(self, now: float, level: int) -> dict[str, tuple[float, float, float]]:
        """(mean, lower, upper) of the spend from today to the month's end, per cost type."""
        today = int(now // DAY * DAY)
        out = {}
        for c in self.cost_types:
            self.meter.call("ce:GetCostForecast")
            page = self.ce.get_cost_forecast(
                TimePeriod={"Start": _fmt(today, "DAILY"), "End": _fmt(period_end(today), "DAILY")},
                Metric=FORECAST_METRICS[c],
                Granularity="MONTHLY",
                PredictionIntervalLevel=level,
            )
            mean = float(page["Total"]["Amount"])
            lows = [
                float(r.get("PredictionIntervalLowerBound", r["MeanValue"]))
                for r in page.get("ForecastResultsByTime", [])
            ]
            highs = [
                float(r.get("PredictionIntervalUpperBound", r["MeanValue"]))
                for r in page.get("ForecastResultsByTime", [])
            ]
            out[c] = (mean, sum(lows) if lows else mean, sum(highs) if highs else mean)
        return out


def windows(start: int, end: int, now: float, hourly: bool) -> list[tuple[int, int, str]]:
    """(start, end, granularity) covering [start, end): daily, except the newest 14 days hourly
    when enabled (cut at a day boundary, so no period is fetched twice)."""
    day0 = start // DAY * DAY
    day_end = -(-end // DAY) * DAY
    if not hourly:
        return [(day0, day_end, "DAILY")]
    cut = max(day0, -(-(int(now) - HOURLY_DAYS * DAY) // DAY) * DAY)
    out = [(day0, cut, "DAILY")] if cut > day0 else []
    hour_end = -(-end // HOUR) * HOUR
    if hour_end > cut:
        out.append((cut, hour_end, "HOURLY"))
    return out


@dataclass
class CostData:
    """The last good answer of Cost Explorer, and how to publish it."""

    billing_account: str
    cost_types: tuple[str, ...]  # cost_type label values, in the order of the amounts
    month: Fetched  # daily rows of the current month, today included
    hours: Fetched | None  # hourly rows of the newest two days (hourly mode)
    taken_at: float
    forecast: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    level: int = 80

    def labels(self, key: Key) -> dict[str, str]:
        return {
            "provider": "aws",
            "billing_account": self.billing_account,
            "sub_account": key[0],
            "service": key[1],
            "region": key[2],
            "charge_category": "",
        }

    def _rate(self) -> tuple[int, dict[Key, np.ndarray]]:
        """End of the newest complete period with costs, and each group's cost per hour in it."""
        src = self.hours if self.hours is not None and self.hours.newest_end else self.month
        newest = max(
            (r.end for r in src.rows if r.end <= self.taken_at and any(r.amounts)), default=0
        )
        per: dict[Key, np.ndarray] = {}
        for r in src.rows:
            if r.end == newest:
                per[r.key] = per.get(r.key, 0) + np.array(r.amounts) / ((r.end - r.start) / HOUR)
        return newest, per

    def families(self) -> Iterator[Metric]:
        out = Families()
        mtd: dict[Key, np.ndarray] = {}
        estimated = np.zeros(len(self.cost_types))
        for r in self.month.rows:
            mtd[r.key] = mtd.get(r.key, 0) + np.array(r.amounts)
            if r.estimated:
                estimated += np.array(r.amounts)
        newest, rate = self._rate()
        zero = np.zeros(len(self.cost_types))
        for key in sorted(set(mtd) | set(rate)):
            for i, ct in enumerate(self.cost_types):
                lab = {**self.labels(key), "cost_type": ct}
                out.add("promcast_cost_month_to_date_usd", lab, float(mtd.get(key, zero)[i]))
                if newest:
                    out.add("promcast_cost_hourly_rate_usd", lab, float(rate.get(key, zero)[i]))
        total = sum(mtd.values(), zero)
        acct = {"provider": "aws", "billing_account": self.billing_account}
        for i, ct in enumerate(self.cost_types):
            share = estimated[i] / total[i] if total[i] else 0.0
            out.add(
                "promcast_cost_month_to_date_estimated_ratio",
                {**acct, "cost_type": ct},
                min(max(share, 0.0), 1.0),
            )
        if newest:
            out.add("promcast_billing_data_last_timestamp_seconds", {"provider": "aws"}, newest)
        # Month end = spend of the days before today (complete) + the forecast from today on.
        today = self.taken_at // DAY * DAY
        before = sum((np.array(r.amounts) for r in self.month.rows if r.end <= today), zero)
        for name, (mean, low, high) in self.forecast.items():
            ct = COST_TYPES[name]
            done = float(before[self.cost_types.index(ct)])
            for bound, value in (("mean", mean), ("lower", low), ("upper", high)):
                out.add(
                    "promcast_cost_month_end_forecast_usd",
                    {**acct, "cost_type": ct, "bound": bound, "level": str(self.level)},
                    done + value,
                )
        return iter(out)


def history(
    fetched: Fetched, labels: Any, cost_types: Sequence[str], t: np.ndarray
) -> Iterator[tuple[str, dict[str, str], np.ndarray]]:
    """The cost series as they would have been served at each time ``t``: the newest complete
    hour's rate (a day's cost is spread evenly over its hours) and the month's spend of complete
    hours, NaN before the first and after the newest reported period."""
    if not fetched.rows:
        return
    first = min(r.start for r in fetched.rows) // HOUR
    last = max(fetched.newest_end, first * HOUR) // HOUR  # hours before it are known
    n = max(int(t.max() // HOUR) - first + 1, last - first, 1)
    keys = sorted({r.key for r in fetched.rows})
    at = {k: i for i, k in enumerate(keys)}
    k = len(cost_types)
    cost = np.zeros((len(keys), n, k))
    for r in fetched.rows:
        h0, h1 = r.start // HOUR - first, r.end // HOUR - first
        if h1 > h0 and h0 < n:
            cost[at[r.key], h0 : min(h1, n)] += np.array(r.amounts) / (h1 - h0)
    th = np.floor(t / HOUR).astype(np.int64) - first  # hours before th are complete at t
    newest = th - 1
    known = (newest >= 0) & (newest < last - first)
    # Month of the newest complete hour: at midnight on the 1st it is still the old month's total.
    hour_starts = (np.arange(n) + first) * HOUR
    month_of_hour = np.array([month_start(int(h)) for h in hour_starts])
    idx = np.clip(newest, 0, n - 1)
    m0 = np.clip(month_of_hour[idx] // HOUR - first, 0, n)  # first hour of that month
    for key in keys:
        c = cost[at[key]]
        cum = np.vstack([np.zeros((1, k)), np.cumsum(c, axis=0)])
        for i, ct in enumerate(cost_types):
            lab = {**labels(key), "cost_type": ct}
            yield ("promcast_cost_hourly_rate_usd", lab, np.where(known, c[idx, i], np.nan))
            yield (
                "promcast_cost_month_to_date_usd",
                lab,
                np.where(known, cum[idx + 1, i] - cum[m0, i], np.nan),
            )
    stamp = np.where(known, np.minimum((th + first) * HOUR, fetched.newest_end), np.nan)
    yield "promcast_billing_data_last_timestamp_seconds", {"provider": "aws"}, stamp.astype(float)
