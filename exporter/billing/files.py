"""Billing files: where they are (local paths, or prefixes in an object store such as ``s3://``
or ``gs://``), which version was read last, and their rows with the line (CSV) or row (parquet)
number each problem is reported at. Also the cell parsers both file formats share.

Object stores are reached through the store their cloud's provider registered
(:mod:`promcast_exporter.billing.stores`): this package imports no cloud SDK, and the provider imports
its SDK only when a remote path is actually read, so a local-only install needs none; the config
already refused remote paths whose SDK is missing.
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import gzip
import io
import math
import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Sequence

from promcast_exporter.billing import stores
from promcast_exporter.billing.stores import ObjectStore, StoreKind

SUFFIXES = (".csv", ".csv.gz", ".parquet")
_NULLS = {"", "NULL"}  # FOCUS writes empty values as a literal NULL
# No real line item comes near a quadrillion dollars; larger amounts are corrupt cells (1E+400
# would become +Inf as a float, 1E+999999999 overflows decimal arithmetic).
MAX_AMOUNT_DIGITS = 15  # |amount| < 10**15
FORMAT_RANK = {".parquet": 0, ".csv.gz": 1, ".csv": 2}  # which copy of a line item is kept


class BadRow(Exception):
    """A row that cannot be used; it is left out of every total and reported."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class FileChanged(Exception):
    """The file changed while it was read: what was read mixes two versions."""


class MissingColumns(Exception):
    """The file lacks columns every row needs: all its rows are bad."""

    def __init__(self, columns: Sequence[str]) -> None:
        super().__init__("missing columns: " + ", ".join(columns))
        self.columns = list(columns)


@dataclass(frozen=True)
class FileRef:
    url: str  # a local path or an s3:// / gs:// URL, as reported in logs and labels
    version: str  # changes whenever the content may have changed (mtime+size, ETag, generation)


def is_billing_file(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def is_manifest(name: str) -> bool:
    """An AWS CUR or Data Exports manifest (``<report>-Manifest.json``): it names the files of
    a billing period's current report version."""
    return name.lower().endswith("-manifest.json")


def _wanted(name: str) -> bool:
    return is_billing_file(name) or is_manifest(name)


class Storage:
    """Lists and opens billing files; ``count_call`` records each remote API call (they cost)."""

    def __init__(self, count_call: Callable[[str], None]) -> None:
        self._count = count_call
        self._clients: dict[str, ObjectStore] = {}  # per scheme, connected on first use
        self.manifests: list[FileRef] = []  # the manifests the last ``list`` found

    def list(self, paths: Sequence[str]) -> list[FileRef]:
        """The billing files under ``paths``; the manifests among them go to ``manifests``."""
        found: list[FileRef] = []
        for path in paths:
            kind = stores.kind_for(path)
            found += _list_local(path) if kind is None else self._list_remote(kind, path)
        self.manifests = [r for r in found if is_manifest(r.url)]
        return [r for r in found if is_billing_file(r.url)]

    def read_small(self, ref: FileRef, limit: int) -> bytes:
        """A small file's bytes; :class:`ValueError` when it is larger than ``limit``."""
        with self.open(ref) as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"larger than {limit} bytes")
        return data

    def open(self, ref: FileRef) -> BinaryIO:
        kind = stores.kind_for(ref.url)
        if kind is None:
            return open(ref.url, "rb")
        body, version = self._client(kind).fetch(*stores.split(ref.url, kind.scheme))
        return _Fetched(body, ref.version if version is None else version)

    def version(self, ref: FileRef, stream: BinaryIO) -> str:
        """The version of the file behind an open ``stream``: compared before and after a read,
        a difference means the file was rewritten, truncated or replaced meanwhile. Remote
        objects are fetched whole, so their version is the one the fetch returned."""
        if isinstance(stream, _Fetched):
            return stream.version
        path, held = os.stat(ref.url), os.fstat(stream.fileno())
        return (
            f"{path.st_mtime_ns}:{path.st_size}:{path.st_ino}/"
            f"{held.st_mtime_ns}:{held.st_size}:{held.st_ino}"
        )

    def _client(self, kind: StoreKind) -> ObjectStore:
        if kind.scheme not in self._clients:
            self._clients[kind.scheme] = kind.connect(self._count)
        return self._clients[kind.scheme]

    def _list_remote(self, kind: StoreKind, url: str) -> list[FileRef]:
        bucket, prefix = stores.split(url, kind.scheme)
        out = [
            FileRef(f"{kind.scheme}{bucket}/{key}", version)
            for key, version in self._client(kind).list(bucket, prefix)
            if _wanted(key)
        ]
        return sorted(out, key=lambda r: r.url)


class _Fetched(io.BytesIO):
    """A remote object's bytes and the version (ETag, generation) they were fetched at."""

    def __init__(self, body: bytes, version: str) -> None:
        super().__init__(body)
        self.version = version


def _list_local(path: str) -> list[FileRef]:
    p = Path(path)
    if glob.has_magic(path):
        files = sorted(
            Path(f) for f in glob.glob(path, recursive=True) if os.path.isfile(f) and _wanted(f)
        )
        if not files:
            raise FileNotFoundError(f"no billing file matches {path}")
    elif p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and _wanted(f.name))
    elif p.is_file():
        files = [p]
    else:
        # A configured path that vanished must fail the refresh (the last good totals stay),
        # not quietly shrink the totals.
        raise FileNotFoundError(f"billing path not found: {path}")
    out = []
    for f in files:
        st = f.stat()
        out.append(FileRef(str(f), f"{st.st_mtime_ns}:{st.st_size}"))
    return out


Row = tuple[int, "tuple[Any, ...] | BadRow"]  # (line or row number, the selected cells or why not)


def read_rows(
    ref: FileRef, stream: BinaryIO, select: Callable[[list[str]], list[str]]
) -> Iterator[Row]:
    """Rows of a CSV (optionally gzipped) or parquet file, each with the cells of the columns
    ``select(header)`` returns, in that order. ``select`` raises :class:`MissingColumns`."""
    name = ref.url.lower()
    if name.endswith(".parquet"):
        yield from _parquet_rows(stream, select)
    else:
        raw: BinaryIO = gzip.GzipFile(fileobj=stream) if name.endswith(".gz") else stream
        # Undecodable bytes become U+FFFD: a number holding one is then a bad row, a label keeps
        # the rest of its text, and one stray byte cannot fail the whole file.
        wrapper = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        try:
            yield from _csv_rows(wrapper, select)
        finally:
            wrapper.detach()  # the caller still checks the open file's version


def _csv_rows(text: io.TextIOWrapper, select: Callable[[list[str]], list[str]]) -> Iterator[Row]:
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    wanted = select(header)
    index = {name: i for i, name in enumerate(header)}
    cols = [index[c] for c in wanted]
    width = len(header)
    for record in reader:
        line = reader.line_num  # physical line of the record's end: right even with quoted newlines
        if not record:
            continue  # a blank line is not a row
        if len(record) != width:
            yield (
                line,
                BadRow(
                    "missing_columns" if len(record) < width else "extra_columns",
                    f"{len(record)} fields, the header has {width}",
                ),
            )
            continue
        yield line, tuple(record[i] for i in cols)


def _parquet_rows(stream: BinaryIO, select: Callable[[list[str]], list[str]]) -> Iterator[Row]:
    import pyarrow as pa  # parquet support is an optional extra
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(stream)
    wanted = select(list(pf.schema_arrow.names))
    if not wanted:  # only counting rows
        yield from ((row, ()) for row in range(1, pf.metadata.num_rows + 1))
        return
    row = 0
    for batch in pf.iter_batches(columns=wanted, batch_size=65536):
        cols = [_cells(batch.column(batch.schema.get_field_index(name)), pa) for name in wanted]
        for cells in zip(*cols):
            row += 1
            yield row, cells


def _cells(col: Any, pa: Any) -> list[Any]:
    """A parquet column as Python values; timestamps as whole Unix seconds (cheaper than
    datetime objects, same meaning). Columns without nulls go through numpy: several times faster."""
    if pa.types.is_timestamp(col.type):
        per_s = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}[col.type.unit]
        ints = col.cast(pa.int64())
        if ints.null_count == 0:
            return (ints.to_numpy() // per_s).tolist()
        return [None if v is None else v // per_s for v in ints.to_pylist()]
    if (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)) and col.null_count == 0:
        return col.to_numpy().tolist()
    return col.to_pylist()


def is_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and _clean(value) == ""


@lru_cache(maxsize=65536)
def _clean(s: str) -> str:
    # Label cells repeat a few thousand distinct values over millions of rows: cache them.
    s = s.strip()
    return "" if s.upper() in _NULLS else s


def text(value: Any) -> str:
    """A label value: empty for FOCUS's literal NULL, blanks and missing cells."""
    if type(value) is str:
        return _clean(value)
    return "" if is_null(value) else str(value).strip()


def money(value: Any, column: str) -> Decimal:
    """An exact amount: floats (parquet doubles) by their shortest repr, strings as written."""
    if type(value) is float and math.isfinite(value) and abs(value) < 10.0**MAX_AMOUNT_DIGITS:
        return Decimal(repr(value))
    if value is None or (isinstance(value, str) and value.strip().upper() in _NULLS):
        raise BadRow("missing_value", f"{column} is empty")
    try:
        if isinstance(value, float):
            amount = Decimal(repr(value))
        elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            amount = Decimal(value)
        else:
            amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise BadRow("bad_number", f"{column}={_short(value)} is not a number") from None
    if not amount.is_finite():
        raise BadRow("bad_number", f"{column}={_short(value)} is not a finite number")
    if amount and amount.adjusted() >= MAX_AMOUNT_DIGITS:
        raise BadRow(
            "bad_number",
            f"{column}={_short(value)} is out of range "
            f"(amounts of 1e{MAX_AMOUNT_DIGITS} or more are corrupt)",
        )
    return amount


def _short(value: Any) -> str:
    """A cell for a message: a 100 kB field must not become a 100 kB log line."""
    r = repr(value)
    return r if len(r) <= 80 else f"{r[:60]}...({len(r)} characters)"


def stamp(value: Any, column: str) -> int:
    """Unix seconds of a timestamp cell; naive times are UTC, as FOCUS and CUR define."""
    if type(value) is int:
        return value
    if is_null(value):
        raise BadRow("missing_value", f"{column} is empty")
    if isinstance(value, float):
        return int(value)
    if isinstance(value, dt.datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).timestamp())
    seconds = _parse_time(str(value).strip())
    if seconds is None:
        raise BadRow("bad_timestamp", f"{column}={_short(value)} is not a date-time")
    return seconds


@lru_cache(maxsize=65536)
def _parse_time(s: str) -> int | None:
    # Billing files repeat the same few thousand hour stamps: the cache makes parsing free.
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp())


def find_column(header: Sequence[str], *candidates: str) -> str | None:
    """The first candidate present in the header, matched exactly, then ignoring case."""
    present = set(header)
    for c in candidates:
        if c in present:
            return c
    lower = {h.lower(): h for h in header}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def read_order(ref: FileRef) -> tuple[int, str]:
    """Files are read parquet first, then .csv.gz, then CSV (a CSV beside a parquet file is
    usually an extract of it), each by name: the first file holding a line item keeps it."""
    name = ref.url.lower()
    rank = next((r for suffix, r in FORMAT_RANK.items() if name.endswith(suffix)), len(FORMAT_RANK))
    return rank, ref.url


def display_name(ref: FileRef) -> str:
    """The file as shown in labels and logs: remote URLs as they are, local paths absolute."""
    return ref.url if "://" in ref.url else os.path.abspath(ref.url)
