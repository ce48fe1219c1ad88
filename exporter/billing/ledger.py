"""Exact cost totals and hourly cost series from billing files, shared by the FOCUS and CUR
providers: a :class:`Layout` says how one format's columns map onto the cost series, the rest
(reading, bad-row accounting, aggregation, live series and history) is the same for both.

Totals are sums of :class:`~decimal.Decimal` amounts as written in the files, so month-to-date
spend equals the files' sums to the last digit; floats are used only for the hourly series,
where a charge spanning several hours is spread evenly over them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
from prometheus_client.core import Metric

from exporter.core.catalogue import Families
from exporter.core.collector import Provider

from .files import BadRow, FileRef, MissingColumns, Storage, display_name, read_rows

log = logging.getLogger(__name__)
HOUR = 3600
MAX_CHARGE_PERIOD = 366 * 86400  # longer ones are corrupt data, and would blow up the hourly arrays
BAD_REASONS = ("bad_number", "bad_timestamp", "missing_value", "missing_column", "missing_columns",
               "extra_columns", "unknown_currency", "bad_tags", "bad_value")
LOGGED_BAD_ROWS = 20   # per file version; the counter and the summary line carry the rest
KEPT_BAD_ROWS = 1000

Key = tuple[str, ...]
# One usable row: (group label values, billing-period start, charge start, charge end, amounts).
Charge = tuple[Key, int, int, int, tuple[Decimal, ...]]


class Binding(Protocol):
    """A layout bound to one file's header."""

    columns: list[str]  # the columns to read, in the order ``parse`` receives them

    def parse(self, cells: tuple[Any, ...]) -> Charge:
        """The row's charge, or :class:`BadRow`."""


@dataclass(frozen=True)
class FuncBinding:
    """A :class:`Binding` made of the columns to read and a function of their cells."""

    columns: list[str]
    parse: Callable[[tuple[Any, ...]], Charge]


class Layout(Protocol):
    labels: tuple[str, ...]      # label names of a group key's values, in order
    cost_types: tuple[str, ...]  # ``cost_type`` label values, in the order of the amounts

    def bind(self, header: list[str], notes: list[str]) -> Binding:
        """Bind to a header; raise :class:`MissingColumns`, append a note per optional gap."""


@dataclass(frozen=True)
class BadRecord:
    line: int  # CSV: physical line number (the header is line 1); parquet: 1-based row number
    reason: str
    detail: str


@dataclass
class FileResult:
    name: str
    rows: int = 0
    keys: list[Key] = field(default_factory=list)
    periods: list[int] = field(default_factory=list)
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    period: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    end: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cost: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    totals: dict[tuple[int, int], list[Decimal]] = field(default_factory=dict)
    bad_counts: Counter[str] = field(default_factory=Counter)
    bad: list[BadRecord] = field(default_factory=list)  # the first KEPT_BAD_ROWS

    def add_bad(self, line: int, reason: str, detail: str) -> None:
        self.bad_counts[reason] += 1
        if len(self.bad) < KEPT_BAD_ROWS:
            self.bad.append(BadRecord(line, reason, detail))


def parse_file(ref: FileRef, storage: Storage, layout: Layout, provider: str) -> FileResult:
    """Every usable row of one file aggregated exactly; every other row recorded as bad."""
    name = display_name(ref)
    res = FileResult(name)
    notes: list[str] = []
    binding: list[Binding] = []

    def select(header: list[str]) -> list[str]:
        binding.append(layout.bind(header, notes))
        return binding[0].columns

    key_ids: dict[Key, int] = {}
    period_ids: dict[int, int] = {}
    group, period, start, end, cost = [], [], [], [], []
    try:
        with storage.open(ref) as stream:
            for line, cells in read_rows(ref, stream, select):
                res.rows += 1
                if isinstance(cells, BadRow):
                    res.add_bad(line, cells.reason, cells.detail)
                    continue
                try:
                    key, ps, cs, ce, amounts = binding[0].parse(cells)
                    if ce < cs or ce - cs > MAX_CHARGE_PERIOD:
                        raise BadRow("bad_timestamp", "the charge period ends before it starts "
                                     "or is longer than a year")
                except BadRow as bad:
                    res.add_bad(line, bad.reason, bad.detail)
                    continue
                except (TypeError, ValueError, ArithmeticError) as exc:
                    # A cell of a type no layout expects (e.g. a nested parquet value).
                    res.add_bad(line, "bad_value", repr(exc))
                    continue
                gi = key_ids.setdefault(key, len(key_ids))
                pi = period_ids.setdefault(ps, len(period_ids))
                group.append(gi)
                period.append(pi)
                start.append(cs)
                end.append(ce)
                cost.append([float(a) for a in amounts])
                acc = res.totals.get((gi, pi))
                if acc is None:
                    res.totals[(gi, pi)] = list(amounts)
                else:
                    for i, a in enumerate(amounts):
                        acc[i] += a
    except MissingColumns as exc:
        with storage.open(ref) as stream:
            res.rows = sum(1 for _ in read_rows(ref, stream, lambda header: []))
        res.bad_counts["missing_column"] = res.rows
        res.bad = [BadRecord(1, "missing_column", str(exc))]
        log.error("file lacks required columns; all its rows are left out of the totals",
                  extra={"provider": provider, "file": name, "line": 1, "reason": "missing_column",
                         "columns": ",".join(exc.columns), "rows": res.rows})
        return res
    res.keys = list(key_ids)
    res.periods = list(period_ids)
    res.group = np.array(group, dtype=np.int64)
    res.period = np.array(period, dtype=np.int64)
    res.start = np.array(start, dtype=np.int64)
    res.end = np.array(end, dtype=np.int64)
    res.cost = np.array(cost, dtype=float).reshape(len(cost), len(layout.cost_types))
    for note in notes:
        log.warning(note, extra={"provider": provider, "file": name})
    for rec in res.bad[:LOGGED_BAD_ROWS]:
        log.warning("bad row left out of the totals", extra={
            "provider": provider, "file": name, "line": rec.line, "reason": rec.reason,
            "detail": rec.detail})
    if res.bad_counts:
        log.warning("file has bad rows; they are left out of the totals", extra={
            "provider": provider, "file": name, "rows": res.rows,
            "bad_rows": sum(res.bad_counts.values()),
            "reasons": ",".join(f"{r}:{n}" for r, n in sorted(res.bad_counts.items()))})
    log.info("read billing file", extra={"provider": provider, "file": name, "rows": res.rows,
                                         "groups": len(res.keys)})
    return res


def period_label(period_start: int) -> str:
    return dt.datetime.fromtimestamp(period_start, dt.timezone.utc).strftime("%Y-%m")


def month_start(t: int) -> int:
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    return int(dt.datetime(d.year, d.month, 1, tzinfo=dt.timezone.utc).timestamp())


def period_end(period_start: int) -> int:
    """Start of the next calendar month: FOCUS and CUR billing periods are calendar months."""
    d = dt.datetime.fromtimestamp(period_start, dt.timezone.utc)
    nxt = dt.datetime(d.year + d.month // 12, d.month % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return int(nxt.timestamp())


@dataclass
class _GroupHours:
    """One group's cost per hour over its data source's coverage [first, first + len)."""

    first: int                                  # hour index (Unix seconds // 3600)
    rate: np.ndarray                            # (hours, cost types)
    periods: list[tuple[int, np.ndarray]]       # (billing-period id, cumulative (hours + 1, types))


class Ledger:
    """All files' charges: exact totals per group and billing period, hourly series on demand."""

    def __init__(self, layout: Layout, files: Sequence[FileResult], source: str) -> None:
        self.source_label = {"source": source}  # the exporter provider, so sources never collide
        self.labels = layout.labels
        self.cost_types = layout.cost_types
        self.totals: dict[tuple[int, int], list[Decimal]] = {}
        key_ids: dict[Key, int] = {}
        period_ids: dict[int, int] = {}
        parts: list[tuple[np.ndarray, ...]] = []
        for f in files:
            gmap = np.array([key_ids.setdefault(k, len(key_ids)) for k in f.keys], dtype=np.int64)
            pmap = np.array([period_ids.setdefault(p, len(period_ids)) for p in f.periods], dtype=np.int64)
            for (g, p), amounts in f.totals.items():
                acc = self.totals.setdefault((int(gmap[g]), int(pmap[p])), [Decimal(0)] * len(amounts))
                for i, a in enumerate(amounts):
                    acc[i] += a
            if len(f.group):
                parts.append((gmap[f.group], pmap[f.period], f.start, f.end, f.cost))
        self.keys: list[Key] = list(key_ids)
        self.periods: list[int] = list(period_ids)
        none = np.zeros(0, np.int64)
        self.group, self.period, self.start, self.end = (
            np.concatenate([p[i] for p in parts]) if parts else none for i in range(4))
        self.cost = (np.concatenate([p[4] for p in parts]) if parts
                     else np.zeros((0, len(self.cost_types))))
        self._provider_col = self.labels.index("provider")
        self._hours: dict[int, _GroupHours] | None = None

    def label_set(self, g: int) -> dict[str, str]:
        return {**dict(zip(self.labels, self.keys[g])), **self.source_label}

    def cloud(self, g: int) -> str:
        """The cloud the group's charges come from (the ``provider`` label)."""
        return self.keys[g][self._provider_col]

    def coverage(self) -> dict[str, tuple[int, int, int]]:
        """Per cloud: (first hour index, hour index after the last, newest charge-period end)."""
        out: dict[str, tuple[int, int, int]] = {}
        if not len(self.group):
            return out
        h0 = self.start // HOUR
        h1 = np.maximum(-(-self.end // HOUR), h0 + 1)
        clouds = np.array([self.cloud(g) for g in range(len(self.keys))], dtype=object)[self.group]
        for cloud in sorted(set(clouds)):
            m = clouds == cloud
            out[cloud] = (int(h0[m].min()), int(h1[m].max()), int(self.end[m].max()))
        return out

    def hours(self) -> dict[int, _GroupHours]:
        """Each group's hourly cost: a charge is spread evenly over the hours its period touches."""
        if self._hours is not None:
            return self._hours
        cov = self.coverage()
        k = len(self.cost_types)
        h0 = self.start // HOUR
        n = np.maximum(-(-self.end // HOUR), h0 + 1) - h0
        row = np.repeat(np.arange(len(n)), n)
        hour = h0[row] + np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        share = self.cost[row] / n[row, None]
        slot = self.group[row] * max(len(self.periods), 1) + self.period[row]
        order = np.argsort(slot, kind="stable")
        slot, hour, share = slot[order], hour[order], share[order]
        bounds = np.flatnonzero(np.diff(slot)) + 1
        out: dict[int, _GroupHours] = {}
        for seg in np.split(np.arange(len(slot)), bounds) if len(slot) else []:
            g, p = divmod(int(slot[seg[0]]), max(len(self.periods), 1))
            first, after, _ = cov[self.cloud(g)]
            dense = np.zeros((after - first, k))
            np.add.at(dense, hour[seg] - first, share[seg])
            gh = out.get(g)
            if gh is None:
                gh = out[g] = _GroupHours(first, np.zeros_like(dense), [])
            gh.rate += dense
            gh.periods.append((p, np.vstack([np.zeros((1, k)), np.cumsum(dense, axis=0)])))
        self._hours = out
        return out

    def snapshot(self) -> list[Metric]:
        """The live series: each billing period's spend so far, the newest hour's rate."""
        out = Families()
        for (g, p), amounts in sorted(self.totals.items()):
            base = {**self.label_set(g), "billing_period": period_label(self.periods[p])}
            for cost_type, amount in zip(self.cost_types, amounts):
                out.add("promcast_cost_month_to_date_usd", {**base, "cost_type": cost_type}, float(amount))
        for g, gh in sorted(self.hours().items()):
            for i, cost_type in enumerate(self.cost_types):
                out.add("promcast_cost_hourly_rate_usd", {**self.label_set(g), "cost_type": cost_type},
                        float(gh.rate[-1, i]))
        for cloud, (_, _, newest) in self.coverage().items():
            out.add("promcast_billing_data_last_timestamp_seconds",
                    {"provider": cloud, **self.source_label}, newest)
        return list(out)

    def history(self, t: np.ndarray) -> Iterator[tuple[str, dict[str, str], np.ndarray]]:
        """The series as the exporter would have served them at each time ``t`` had the files
        arrived hour by hour: the rate of the newest complete hour, and each billing period's
        spend of complete hours, only while ``t`` lies in that period (so sums never mix months)."""
        t = np.asarray(t, dtype=float)
        th = np.floor(t / HOUR).astype(np.int64)  # hours before th are complete at t
        cov = self.coverage()
        for g, gh in sorted(self.hours().items()):
            labels = self.label_set(g)
            n_hours = len(gh.rate)
            idx = th - 1 - gh.first
            ok = (idx >= 0) & (idx < n_hours)
            if ok.any():
                for i, cost_type in enumerate(self.cost_types):
                    yield ("promcast_cost_hourly_rate_usd", {**labels, "cost_type": cost_type},
                           np.where(ok, gh.rate[np.clip(idx, 0, n_hours - 1), i], np.nan))
            j = th - gh.first
            known = (j >= 0) & (j <= n_hours)
            for p, cum in gh.periods:
                ps = self.periods[p]
                ok = known & (t > ps) & (t <= period_end(ps))
                if not ok.any():
                    continue
                base = {**labels, "billing_period": period_label(ps)}
                for i, cost_type in enumerate(self.cost_types):
                    yield ("promcast_cost_month_to_date_usd", {**base, "cost_type": cost_type},
                           np.where(ok, cum[np.clip(j, 0, n_hours), i], np.nan))
        for cloud, (first, _, newest) in cov.items():
            ok = th >= first
            if ok.any():
                yield ("promcast_billing_data_last_timestamp_seconds",
                       {"provider": cloud, **self.source_label},
                       np.where(ok, np.minimum(th * HOUR, newest), np.nan).astype(float))


class BillingFileProvider(Provider):
    """A provider reading billing files; subclasses set ``name`` and pass their layout.

    Files are parsed again only when they change (mtime and size, ETag, generation), so an
    hourly refresh of a directory of closed months costs one listing.
    """

    def __init__(self, refresh_interval: float, paths: Sequence[str], layout: Layout) -> None:
        super().__init__(refresh_interval)
        self.paths = list(paths)
        self.layout = layout
        self.storage = Storage(self.count_call)
        self._cache: dict[str, tuple[str, FileResult]] = {}
        # Bad rows counted once per version of a file read, so the counter only ever grows.
        self.bad_rows_total: Counter[tuple[str, str]] = Counter()
        self.files: list[FileResult] = []

    def load(self) -> Ledger:
        refs = self.storage.list(self.paths)
        results = []
        for ref in refs:
            cached = self._cache.get(ref.url)
            if cached is not None and cached[0] == ref.version:
                results.append(cached[1])
                continue
            res = parse_file(ref, self.storage, self.layout, self.name)
            for reason, n in res.bad_counts.items():
                self.bad_rows_total[(res.name, reason)] += n
            self._cache[ref.url] = (ref.version, res)
            results.append(res)
        for url in set(self._cache) - {r.url for r in refs}:
            del self._cache[url]
        if not refs:
            log.warning("no billing files found", extra={"provider": self.name,
                                                         "paths": ",".join(self.paths)})
        self.files = results
        return Ledger(self.layout, results, self.name)

    def refresh(self, now: float) -> list[Metric]:
        ledger = self.load()
        out = Families()
        out.merge(ledger.snapshot())
        for f in self.files:
            for reason in BAD_REASONS:
                out.add("promcast_exporter_bad_rows_total",
                        {"provider": self.name, "file": f.name, "reason": reason},
                        self.bad_rows_total[(f.name, reason)])
        return list(out)

    def history(self, start: float, end: float, step: float
                ) -> Iterator[tuple[str, dict[str, str], np.ndarray, np.ndarray]]:
        ledger = self.load()
        t = np.arange(start, end + 1, step, dtype=float)
        for name, labels, values in ledger.history(t):
            yield name, labels, t, values
