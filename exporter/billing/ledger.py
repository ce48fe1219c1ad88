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
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
from prometheus_client.core import Metric

from promcast_common.catalogue import Families
from promcast_common.collector import PartialRefresh, Provider

from .manifests import MAX_MANIFEST_BYTES, Manifest, current_files, parse_manifest
from .files import (
    BadRow,
    FileChanged,
    FileRef,
    MissingColumns,
    Storage,
    display_name,
    read_order,
    read_rows,
    text,
)

log = logging.getLogger(__name__)
HOUR = 3600
MAX_CHARGE_PERIOD = 366 * 86400  # longer ones are corrupt data
# Dates a billing row may carry: no cloud billed before 2000, and nothing is charged more than a
# month ahead (a monthly fee may be billed for the coming month). A row outside is a bad row:
# one row dated 2099 or year 1 must not stretch every hourly series across centuries.
EARLIEST = 946684800  # 2000-01-01T00:00:00Z
FUTURE_SLACK = 32 * 86400
BAD_REASONS = (
    "bad_number",
    "bad_timestamp",
    "date_out_of_range",
    "missing_value",
    "missing_column",
    "missing_columns",
    "extra_columns",
    "unknown_currency",
    "bad_tags",
    "bad_value",
)
SKIP_REASONS = ("corrupt", "changing", "unreadable")
READ_ATTEMPTS = 3  # a file rewritten during each of them is skipped until the next refresh
LOGGED_BAD_ROWS = (
    20  # per file version; the counter, the summary line and `bad-rows` carry the rest
)
KEPT_BAD_ROWS = 1000

Key = tuple[str, ...]
# One usable row: (group label values, billing-period start, charge start, charge end, amounts).
Charge = tuple[Key, int, int, int, tuple[Decimal, ...]]


class Binding(Protocol):
    """A layout bound to one file's header."""

    columns: list[str]  # the columns to read, in the order ``parse`` receives them
    identity: tuple[int, ...]  # positions of the cells telling one line item from another

    def parse(self, cells: tuple[Any, ...]) -> Charge:
        """The row's charge, or :class:`BadRow`."""


@dataclass(frozen=True)
class FuncBinding:
    """A :class:`Binding` made of the columns to read and a function of their cells; without
    ``identity`` line items are never recognised across files."""

    columns: list[str]
    parse: Callable[[tuple[Any, ...]], Charge]
    identity: tuple[int, ...] = ()


class Layout(Protocol):
    labels: tuple[str, ...]  # label names of a group key's values, in order
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
    version: str = ""
    rows: int = 0
    keys: list[Key] = field(default_factory=list)
    periods: list[int] = field(default_factory=list)
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    period: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    end: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cost: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # line-item hashes
    totals: dict[tuple[int, int], list[Decimal]] = field(default_factory=dict)
    bad_counts: Counter[str] = field(default_factory=Counter)
    bad: list[BadRecord] = field(default_factory=list)  # the first KEPT_BAD_ROWS
    duplicates: int = 0  # rows left out as line items already read from another file
    recheck_at: float = math.inf  # read again from then on: rows dated ahead become usable

    def add_bad(self, line: int, reason: str, detail: str) -> None:
        self.bad_counts[reason] += 1
        if len(self.bad) < KEPT_BAD_ROWS:
            self.bad.append(BadRecord(line, reason, detail))


def _utc(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_window(now: float) -> tuple[int, int]:
    """The first and last charge or billing-period start a row may have when read at ``now``."""
    return EARLIEST, int(now) + FUTURE_SLACK


def check_dates(period: int, start: int, end: int, window: tuple[int, int]) -> None:
    """Raise :class:`BadRow` for a charge that cannot be real."""
    lo, hi = window
    for what, t in (("charge period start", start), ("billing period start", period)):
        if not lo <= t <= hi:
            bad = BadRow(
                "date_out_of_range",
                f"{what} {_utc(t) if -62135596800 <= t < 253402300800 else t} "
                f"is outside {_utc(lo)} .. {_utc(hi)}",
            )
            bad.usable_from = max(start, period) - FUTURE_SLACK if t > hi else math.inf  # type: ignore[attr-defined]
            raise bad
    if end < start or end - start > MAX_CHARGE_PERIOD:
        raise BadRow(
            "bad_timestamp", "the charge period ends before it starts or is longer than a year"
        )


def iter_rows(
    ref: FileRef,
    storage: Storage,
    layout: Layout,
    now: float,
    exclude: frozenset[int] = frozenset(),
    notes: list[str] | None = None,
    on_future: Callable[[float], None] | None = None,
) -> Iterator[tuple[int, Charge | BadRecord | None, int]]:
    """(line, the row's charge or why it is bad or None for an excluded duplicate, identity
    hash) of every row of one file, checking afterwards that the file did not change meanwhile
    (:class:`FileChanged`). :class:`MissingColumns` when the header lacks a required column;
    ``notes`` receives the layout's remarks on optional columns the file lacks, ``on_future``
    the time from which a row dated too far ahead would be accepted."""
    binding: list[Binding] = []
    notes = [] if notes is None else notes

    def select(header: list[str]) -> list[str]:
        binding.append(layout.bind(header, notes))
        return binding[0].columns

    window = date_window(now)
    with storage.open(ref) as stream:
        before = storage.version(ref, stream)
        for line, cells in read_rows(ref, stream, select):
            if isinstance(cells, BadRow):
                yield line, BadRecord(line, cells.reason, cells.detail), 0
                continue
            b = binding[0]
            try:
                charge = b.parse(cells)
                check_dates(charge[1], charge[2], charge[3], window)
            except BadRow as bad:
                if on_future is not None and getattr(bad, "usable_from", math.inf) < math.inf:
                    on_future(bad.usable_from)  # type: ignore[attr-defined]
                yield line, BadRecord(line, bad.reason, bad.detail), 0
                continue
            except (TypeError, ValueError, ArithmeticError) as exc:
                # A cell of a type no layout expects (e.g. a nested parquet value).
                yield line, BadRecord(line, "bad_value", repr(exc)[:200]), 0
                continue
            # Parsed values and cleaned text: a CSV and a parquet copy of a line item match.
            ident = hash((charge, *(text(cells[i]) for i in b.identity))) if b.identity else 0
            yield line, (None if ident in exclude else charge), ident
        if storage.version(ref, stream) != before:
            raise FileChanged(f"{display_name(ref)} changed while it was read")


def parse_file(
    ref: FileRef,
    storage: Storage,
    layout: Layout,
    provider: str,
    now: float,
    exclude: frozenset[int] = frozenset(),
    quiet: bool = False,
) -> FileResult:
    """Every usable row of one file aggregated exactly; every other row recorded as bad; rows
    whose identity is in ``exclude`` left out as duplicates. Raises :class:`FileChanged` and
    whatever a corrupt file raises; ``quiet`` logs nothing (a second reading of the file)."""
    name = display_name(ref)
    res = FileResult(name, ref.version)
    key_ids: dict[Key, int] = {}
    period_ids: dict[int, int] = {}
    group, period, start, end, cost, ids = [], [], [], [], [], []
    notes: list[str] = []
    try:

        def future(t: float) -> None:
            res.recheck_at = min(res.recheck_at, t)

        for _line, charge, ident in iter_rows(ref, storage, layout, now, exclude, notes, future):
            res.rows += 1
            if isinstance(charge, BadRecord):
                res.add_bad(charge.line, charge.reason, charge.detail)
                continue
            if charge is None:
                res.duplicates += 1
                continue
            key, ps, cs, ce, amounts = charge
            gi = key_ids.setdefault(key, len(key_ids))
            pi = period_ids.setdefault(ps, len(period_ids))
            group.append(gi)
            period.append(pi)
            start.append(cs)
            end.append(ce)
            ids.append(ident)
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
        if not quiet:
            log.error(
                "file lacks required columns; all its rows are left out of the totals",
                extra={
                    "provider": provider,
                    "file": name,
                    "line": 1,
                    "reason": "missing_column",
                    "columns": ",".join(exc.columns),
                    "rows": res.rows,
                },
            )
        return res
    res.keys = list(key_ids)
    res.periods = list(period_ids)
    res.group = np.array(group, dtype=np.int64)
    res.period = np.array(period, dtype=np.int64)
    res.start = np.array(start, dtype=np.int64)
    res.end = np.array(end, dtype=np.int64)
    res.ids = np.array(ids, dtype=np.int64)
    res.cost = np.array(cost, dtype=float).reshape(len(cost), len(layout.cost_types))
    if quiet:
        return res
    for note in notes:
        log.warning(note, extra={"provider": provider, "file": name})
    for rec in res.bad[:LOGGED_BAD_ROWS]:
        log.warning(
            "bad row left out of the totals",
            extra={
                "provider": provider,
                "file": name,
                "line": rec.line,
                "reason": rec.reason,
                "detail": rec.detail,
            },
        )
    if res.bad_counts:
        log.warning(
            "file has bad rows; they are left out of the totals (promcast-exporter "
            "bad-rows lists them all)",
            extra={
                "provider": provider,
                "file": name,
                "rows": res.rows,
                "bad_rows": sum(res.bad_counts.values()),
                "logged": min(LOGGED_BAD_ROWS, len(res.bad)),
                "reasons": ",".join(f"{r}:{n}" for r, n in sorted(res.bad_counts.items())),
            },
        )
    log.info(
        "read billing file",
        extra={"provider": provider, "file": name, "rows": res.rows, "groups": len(res.keys)},
    )
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


class Ledger:
    """All files' charges: exact totals per group and billing period, hourly series on demand.

    No array is sized by the span of the charges' dates: the live series read only the newest
    hour, and history builds one group's hours at a time, over the hours asked for.
    """

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
            pmap = np.array(
                [period_ids.setdefault(p, len(period_ids)) for p in f.periods], dtype=np.int64
            )
            for (g, p), amounts in f.totals.items():
                acc = self.totals.setdefault(
                    (int(gmap[g]), int(pmap[p])), [Decimal(0)] * len(amounts)
                )
                for i, a in enumerate(amounts):
                    acc[i] += a
            if len(f.group):
                parts.append((gmap[f.group], pmap[f.period], f.start, f.end, f.cost))
        self.keys: list[Key] = list(key_ids)
        self.periods: list[int] = list(period_ids)
        none = np.zeros(0, np.int64)
        self.group, self.period, self.start, self.end = (
            np.concatenate([p[i] for p in parts]) if parts else none for i in range(4)
        )
        self.cost = (
            np.concatenate([p[4] for p in parts]) if parts else np.zeros((0, len(self.cost_types)))
        )
        self._provider_col = self.labels.index("provider")
        # Each row's hours [h0, h0 + n) and its cost per hour.
        self.h0 = self.start // HOUR
        self.n = np.maximum(-(-self.end // HOUR), self.h0 + 1) - self.h0
        self.share = self.cost / self.n[:, None] if len(self.n) else self.cost

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
        h1 = self.h0 + self.n
        clouds = np.array([self.cloud(g) for g in range(len(self.keys))], dtype=object)[self.group]
        for cloud in sorted(set(clouds)):
            m = clouds == cloud
            out[cloud] = (int(self.h0[m].min()), int(h1[m].max()), int(self.end[m].max()))
        return out

    def newest_rates(self) -> np.ndarray:
        """(groups, cost types): each group's cost in its cloud's newest hour; a charge is
        spread evenly over the hours its period touches."""
        rates = np.zeros((len(self.keys), len(self.cost_types)))
        if not len(self.group):
            return rates
        cov = self.coverage()
        last = np.array([cov[self.cloud(g)][1] - 1 for g in range(len(self.keys))])[self.group]
        active = (self.h0 <= last) & (self.h0 + self.n > last)
        np.add.at(rates, self.group[active], self.share[active])
        return rates

    def snapshot(self, now: float) -> list[Metric]:
        """The live series: the spend of every billing period, the month-to-date spend of the
        period holding ``now`` (none when the files have no charge in it yet), the newest
        hour's rate."""
        out = Families()
        for (g, p), amounts in sorted(self.totals.items()):
            ps = self.periods[p]
            base = {**self.label_set(g), "billing_period": period_label(ps)}
            current = ps <= now < period_end(ps)
            for cost_type, amount in zip(self.cost_types, amounts):
                out.add(
                    "promcast_cost_billing_period_usd",
                    {**base, "cost_type": cost_type},
                    float(amount),
                )
                if current:
                    out.add(
                        "promcast_cost_month_to_date_usd",
                        {**base, "cost_type": cost_type},
                        float(amount),
                    )
        for g, rate in enumerate(self.newest_rates()):
            for cost_type, value in zip(self.cost_types, rate):
                out.add(
                    "promcast_cost_hourly_rate_usd",
                    {**self.label_set(g), "cost_type": cost_type},
                    float(value),
                )
        for cloud, (_, _, newest) in self.coverage().items():
            out.add(
                "promcast_billing_data_last_timestamp_seconds",
                {"provider": cloud, **self.source_label},
                newest,
            )
        return list(out)

    def history(self, t: np.ndarray) -> Iterator[tuple[str, dict[str, str], np.ndarray]]:
        """The series as the exporter would have served them at each time ``t`` had the files
        arrived hour by hour: the rate of the newest complete hour, and each billing period's
        spend of complete hours, only while ``t`` lies in that period (so sums never mix months)."""
        t = np.asarray(t, dtype=float)
        if not len(t) or not len(self.group):
            return
        th = np.floor(t / HOUR).astype(np.int64)  # hours before th are complete at t
        cov = self.coverage()
        h1 = self.h0 + self.n
        # The hours the times ask about, within those any charge covers: [a, b).
        a = max(int(th.min()) - 1, int(self.h0.min()))
        b = min(int(th.max()), int(h1.max()))
        width = max(b - a, 0)
        k = len(self.cost_types)
        order = np.lexsort((self.period, self.group))
        bounds = np.flatnonzero(np.diff(self.group[order])) + 1
        for rows in np.split(order, bounds):
            g = int(self.group[rows[0]])
            first, after, _ = cov[self.cloud(g)]
            labels = self.label_set(g)
            rate = np.zeros((width, k))
            j = np.clip(th - a, 0, width)
            known = (th >= first) & (th <= after)
            pbounds = np.flatnonzero(np.diff(self.period[rows])) + 1
            for seg in np.split(rows, pbounds):
                ps = self.periods[int(self.period[seg[0]])]
                dense = self._dense(seg, a, width)
                rate += dense
                ok = known & (t > ps) & (t <= period_end(ps))
                if not ok.any():
                    continue
                # Spend of the hours before the window, then hour by hour within it.
                before = (self.share[seg] * np.clip(a - self.h0[seg], 0, self.n[seg])[:, None]).sum(
                    axis=0
                )
                cum = before + np.vstack([np.zeros((1, k)), np.cumsum(dense, axis=0)])
                base = {**labels, "billing_period": period_label(ps)}
                for i, cost_type in enumerate(self.cost_types):
                    yield (
                        "promcast_cost_month_to_date_usd",
                        {**base, "cost_type": cost_type},
                        np.where(ok, cum[j, i], np.nan),
                    )
            idx = th - 1 - a
            ok = (th - 1 >= first) & (th - 1 < after) & (idx >= 0) & (idx < width)
            if ok.any():
                for i, cost_type in enumerate(self.cost_types):
                    yield (
                        "promcast_cost_hourly_rate_usd",
                        {**labels, "cost_type": cost_type},
                        np.where(
                            ok,
                            rate[np.clip(idx, 0, max(width - 1, 0)), i] if width else np.nan,
                            np.nan,
                        ),
                    )
        for cloud, (first, _, newest) in cov.items():
            ok = th >= first
            if ok.any():
                yield (
                    "promcast_billing_data_last_timestamp_seconds",
                    {"provider": cloud, **self.source_label},
                    np.where(ok, np.minimum(th * HOUR, newest), np.nan).astype(float),
                )

    def _dense(self, rows: np.ndarray, a: int, width: int) -> np.ndarray:
        """(width, cost types): the rows' cost in each hour of [a, a + width), built from where
        each charge starts and stops (work and memory grow with rows + width, not with the
        length of the charges); hours no charge covers are exactly 0."""
        k = len(self.cost_types)
        s = np.clip(self.h0[rows] - a, 0, width)
        e = np.clip(self.h0[rows] + self.n[rows] - a, 0, width)
        diff = np.zeros((width + 1, k))
        np.add.at(diff, s, self.share[rows])
        np.add.at(diff, e, -self.share[rows])
        active = np.zeros(width + 1, np.int64)
        np.add.at(active, s, 1)
        np.add.at(active, e, -1)
        dense = np.cumsum(diff[:-1], axis=0)
        dense[np.cumsum(active[:-1]) == 0] = 0.0
        return dense


class BillingFileProvider(Provider):
    """A provider reading billing files; subclasses set ``name`` and pass their layout.

    Files are parsed again only when they change (mtime and size, ETag, generation), so an
    hourly refresh of a directory of closed months costs one listing. A file that cannot be
    read (corrupt, rewritten during every attempt) is skipped, logged and counted, and its last
    good version kept; the others are published, and the refresh counts as failed.
    """

    def __init__(self, refresh_interval: float, paths: Sequence[str], layout: Layout) -> None:
        super().__init__(refresh_interval)
        self.paths = list(paths)
        self.layout = layout
        self.storage = Storage(self.count_call)
        self.clock: Callable[[], float] = time.time
        self._cache: dict[str, FileResult] = {}  # url -> its last good reading
        self._failed: dict[str, tuple[str, str]] = {}  # url -> (version, reason) not readable
        self._deduplicated: dict[str, tuple[str, frozenset[int], FileResult]] = {}
        self._manifests: dict[str, tuple[str, Manifest | None]] = {}
        # The counters grow by what a new version of a file adds, never by a re-reading.
        self.bad_rows_total: Counter[tuple[str, str]] = Counter()
        self.duplicate_rows_total: Counter[str] = Counter()
        self.skipped_files_total: Counter[tuple[str, str]] = Counter()
        self._bad_seen: dict[tuple[str, str], int] = {}
        self._dup_seen: dict[str, int] = {}
        self.files: list[FileResult] = []
        self.listed: list[str] = []  # display names of the files listed
        self.skipped: list[tuple[str, str]] = []  # (file, reason) of the last load

    def load(self, now: float | None = None) -> Ledger:
        now = self.clock() if now is None else now
        self.skipped = []
        refs = sorted(self._current_versions(self.storage.list(self.paths)), key=read_order)
        results: list[tuple[FileRef, FileResult]] = []
        for ref in refs:
            res = self._read(ref, now)
            if res is not None:
                results.append((ref, res))
        for url in set(self._cache) - {r.url for r in refs}:
            del self._cache[url]
        if not refs:
            log.warning(
                "no billing files found",
                extra={"provider": self.name, "paths": ",".join(self.paths)},
            )
        self.listed = [display_name(r) for r in refs]
        self.files = self._drop_duplicates(results, now)
        return Ledger(self.layout, self.files, self.name)

    def _current_versions(self, refs: list[FileRef]) -> list[FileRef]:
        """The files of each billing period's current report version where a manifest says
        which they are; every file elsewhere."""
        manifests = []
        for ref in self.storage.manifests:
            name = display_name(ref)
            cached = self._manifests.get(ref.url)
            if cached is None or cached[0] != ref.version:
                try:
                    cached = (
                        ref.version,
                        parse_manifest(ref.url, self.storage.read_small(ref, MAX_MANIFEST_BYTES)),
                    )
                except Exception as exc:  # noqa: BLE001 - a bad manifest is reported, not fatal
                    cached = (ref.version, None)
                    self.skipped_files_total[(name, "corrupt")] += 1
                    log.error(
                        "report manifest unreadable; the files it would choose from are all read",
                        extra={
                            "provider": self.name,
                            "file": name,
                            "err": f"{type(exc).__name__}: {exc}"[:300],
                        },
                    )
                self._manifests[ref.url] = cached
            if cached[1] is None:
                self.skipped.append((name, "corrupt"))
            else:
                manifests.append(cached[1])
        for url in set(self._manifests) - {r.url for r in self.storage.manifests}:
            del self._manifests[url]
        if not manifests:
            return refs
        keep, left_out, missing = current_files(refs, manifests)
        for url, files in left_out.items():
            log.info(
                "files not in their billing period's manifest (older report versions) are not read",
                extra={
                    "provider": self.name,
                    "manifest": url,
                    "files": len(files),
                    "first": files[0],
                },
            )
        for url, keys in missing.items():
            log.warning(
                "the manifest names files that are absent; the period's spend is "
                "incomplete until they arrive",
                extra={
                    "provider": self.name,
                    "manifest": url,
                    "absent": len(keys),
                    "first": keys[0],
                },
            )
        return keep

    def _read(self, ref: FileRef, now: float) -> FileResult | None:
        """The file's reading: cached while its version is unchanged; else read anew (retried
        when it changes meanwhile); else its last good reading, if any."""
        cached = self._cache.get(ref.url)
        if cached is not None and cached.version == ref.version and now < cached.recheck_at:
            return cached
        name = display_name(ref)
        failed = self._failed.get(ref.url)
        if failed is not None and failed[0] == ref.version:  # a corrupt file is not read again
            self.skipped.append((name, failed[1]))
            return cached
        reason, err = "changing", ""
        for _ in range(READ_ATTEMPTS):
            try:
                res = parse_file(ref, self.storage, self.layout, self.name, now)
            except FileChanged as exc:
                reason, err = "changing", str(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
                unreadable = isinstance(exc, OSError) and exc.errno is not None
                reason, err = (
                    ("unreadable" if unreadable else "corrupt"),
                    f"{type(exc).__name__}: {exc}",
                )
                break
            self._count_bad(res)
            self._cache[ref.url] = res
            self._failed.pop(ref.url, None)
            return res
        if reason != "changing":  # a changing file is tried again at the next refresh
            self._failed[ref.url] = (ref.version, reason)
        self.skipped_files_total[(name, reason)] += 1
        self.skipped.append((name, reason))
        log.error(
            "billing file skipped; the other files are published"
            + (", with this file's last good version" if cached else ""),
            extra={"provider": self.name, "file": name, "reason": reason, "err": err[:300]},
        )
        return cached

    def _count_bad(self, res: FileResult) -> None:
        for reason, n in res.bad_counts.items():
            key = (res.name, reason)
            seen = self._bad_seen.get(key, 0)
            if n > seen:
                self.bad_rows_total[key] += n - seen
                self._bad_seen[key] = n

    def _drop_duplicates(
        self, results: list[tuple[FileRef, FileResult]], now: float
    ) -> list[FileResult]:
        """The readings with line items already read from an earlier file (in read order) left
        out, so a line item in two files counts once."""
        seen: set[int] = set()
        out = []
        for ref, res in results:
            ids = res.ids.tolist()
            if seen:
                dup = frozenset(i for i in ids if i in seen)
                if dup:
                    res = self._without(ref, res, dup, now)
                    if res is None:
                        continue
            seen.update(ids)
            out.append(res)
        return out

    def _without(
        self, ref: FileRef, res: FileResult, exclude: frozenset[int], now: float
    ) -> FileResult | None:
        done = self._deduplicated.get(ref.url)
        if (
            done is not None
            and done[0] == res.version
            and done[1] == exclude
            and now < done[2].recheck_at
        ):
            return done[2]
        try:
            # Read again, leaving the duplicates out: totals stay exact decimals.
            kept = parse_file(ref, self.storage, self.layout, self.name, now, exclude, quiet=True)
        except Exception as exc:  # noqa: BLE001 - as in _read
            self.skipped.append(
                (res.name, "changing" if isinstance(exc, FileChanged) else "corrupt")
            )
            log.error(
                "billing file skipped: reading it again without its duplicate line items failed",
                extra={"provider": self.name, "file": res.name, "err": repr(exc)[:300]},
            )
            return None
        kept.version = res.version
        self._deduplicated[ref.url] = (res.version, exclude, kept)
        seen = self._dup_seen.get(res.name, 0)
        if kept.duplicates > seen:
            self.duplicate_rows_total[res.name] += kept.duplicates - seen
            self._dup_seen[res.name] = kept.duplicates
        log.warning(
            "file repeats line items already read from another file; they are counted once",
            extra={
                "provider": self.name,
                "file": res.name,
                "duplicates": kept.duplicates,
                "rows": kept.rows,
            },
        )
        return kept

    def bad_rows(self, now: float | None = None) -> Iterator[tuple[str, int, str, str]]:
        """(file, line, reason, detail) of every bad row of every file, read anew: the full
        list the log and the counters only sample and count. A file that cannot be read gives
        one entry at line 0."""
        now = self.clock() if now is None else now
        for ref in sorted(self._current_versions(self.storage.list(self.paths)), key=read_order):
            name = display_name(ref)
            try:
                for line, rec, _ in iter_rows(ref, self.storage, self.layout, now):
                    if isinstance(rec, BadRecord):
                        yield name, line, rec.reason, rec.detail
            except MissingColumns as exc:
                yield name, 1, "missing_column", str(exc)
            except Exception as exc:  # noqa: BLE001 - reported, the other files still listed
                yield name, 0, "file_skipped", f"{type(exc).__name__}: {exc}"[:300]

    def refresh(self, now: float) -> list[Metric]:
        ledger = self.load(now)
        out = Families()
        out.merge(ledger.snapshot(now))
        lab = {"provider": self.name}
        for name in self.listed:
            for reason in BAD_REASONS:
                out.add(
                    "promcast_exporter_bad_rows_total",
                    {**lab, "file": name, "reason": reason},
                    self.bad_rows_total[(name, reason)],
                )
            out.add(
                "promcast_exporter_duplicate_rows_total",
                {**lab, "file": name},
                self.duplicate_rows_total[name],
            )
        manifests = [display_name(r) for r in self.storage.manifests]
        for name in self.listed + manifests:
            for reason in SKIP_REASONS:
                out.add(
                    "promcast_exporter_skipped_files_total",
                    {**lab, "file": name, "reason": reason},
                    self.skipped_files_total[(name, reason)],
                )
        if self.skipped:
            raise PartialRefresh(list(out), ", ".join(f"{f} ({r})" for f, r in self.skipped))
        return list(out)

    def history(
        self, start: float, end: float, step: float
    ) -> Iterator[tuple[str, dict[str, str], np.ndarray, np.ndarray]]:
        ledger = self.load()
        t = np.arange(start, end + 1, step, dtype=float)
        for name, labels, values in ledger.history(t):
            yield name, labels, t, values
