"""The ``focus`` provider: cost series from FinOps FOCUS 1.0-1.2 files (CSV or parquet).

BilledCost, EffectiveCost and ListCost become ``cost_type`` billed, effective and list, summed by
the configured dimensions; ChargePeriodStart/End give the hourly series and BillingPeriodStart
the ``billing_period`` of month-to-date spend.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Callable, Sequence

from .columns import CANONICAL, DIMENSIONS, FIXED, IDENTITY, tag_label
from promcast_exporter.billing.clouds import cloud_label
from promcast_exporter.billing.files import BadRow, MissingColumns, find_column, money, stamp, text
from promcast_exporter.billing.ledger import BillingFileProvider, Charge, FuncBinding

COSTS = (("BilledCost", "billed"), ("EffectiveCost", "effective"), ("ListCost", "list"))
TIMES = ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart")
CURRENCY = "USD"  # the unit of every cost series


@lru_cache(maxsize=65536)
def _tags(raw: str) -> dict[str, str] | None:
    """A Tags cell as {key: value}; None when it is not a JSON object. Keys are stripped: files
    carry both "org" and " org"."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    return {str(k).strip(): v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}


class FocusLayout:
    def __init__(self, dimensions: Sequence[str], tag_keys: Sequence[str] = ()) -> None:
        self.dimensions = list(dimensions)
        self.tag_keys = [k.strip() for k in tag_keys]
        extras = [d for d in self.dimensions if d not in FIXED]
        self.labels = tuple(DIMENSIONS[d] for d in FIXED + tuple(extras)) + tuple(
            tag_label(k) for k in self.tag_keys
        )
        self._key_columns = [d if d in self.dimensions else None for d in FIXED] + extras
        self.cost_types = tuple(ct for _, ct in COSTS)

    def bind(self, header: list[str], notes: list[str]) -> FuncBinding:
        required = [c for c, _ in COSTS] + list(TIMES)
        found = {c: find_column(header, c) for c in required}
        missing = [c for c, f in found.items() if f is None]
        if missing:
            raise MissingColumns(missing)
        columns = [found[c] for c in required]
        currency = find_column(header, "BillingCurrency")
        if currency is None:
            notes.append("no BillingCurrency column; amounts are taken as USD")
        else:
            columns.append(currency)
        key_at: list[tuple[int, Callable[[str], str] | None] | None] = []
        for dim in self._key_columns:
            col = find_column(header, dim) if dim else None
            if dim and col is None:
                notes.append(f"no {dim} column; its label {DIMENSIONS[dim]} is empty")
            if col is None:
                key_at.append(None)
            else:
                key_at.append((len(columns), _label_value(dim)))
                columns.append(col)
        tags_at = None
        if self.tag_keys:
            tags_col = find_column(header, "Tags")
            if tags_col is None:
                notes.append("no Tags column; the tag_ labels are empty")
            else:
                tags_at = len(columns)
                columns.append(tags_col)
        # The same line item in two files (two exports, a CSV beside its parquet) has the same
        # values in these columns; FOCUS has no line-item id.
        identity = []
        for col in (find_column(header, c) for c in IDENTITY):
            if col is not None and col not in columns:
                columns.append(col)
            if col is not None:
                identity.append(columns.index(col))
        cur_at = 6 if currency is not None else None
        tag_keys = self.tag_keys

        def parse(cells: tuple[Any, ...]) -> Charge:
            amounts = tuple(money(cells[i], COSTS[i][0]) for i in range(3))
            start, end, period = (stamp(cells[3 + i], TIMES[i]) for i in range(3))
            if cur_at is not None and text(cells[cur_at]).upper() != CURRENCY:
                raise BadRow(
                    "unknown_currency",
                    f"BillingCurrency={cells[cur_at]!r}; the cost series are in {CURRENCY}",
                )
            key = []
            for at in key_at:
                if at is None:
                    key.append("")
                else:
                    value = text(cells[at[0]])
                    key.append(at[1](value) if at[1] else value)
            if tag_keys:
                raw = text(cells[tags_at]) if tags_at is not None else ""
                tags = _tags(raw) if raw else {}
                if tags is None:
                    raise BadRow("bad_tags", f"Tags={raw[:80]!r} is not a JSON object")
                key += [tags.get(k, "") for k in tag_keys]
            return tuple(key), period, start, end, amounts

        return FuncBinding(columns, parse, tuple(identity))


def _label_value(column: str) -> Callable[[str], str] | None:
    """How a FOCUS column's cell becomes its label value: ProviderName in the API providers'
    vocabulary, columns with allowed values in the spec's spelling whatever the file's case."""
    if column == "ProviderName":
        return cloud_label
    canonical = CANONICAL.get(column)
    if canonical is None:
        return None
    return lambda value: canonical.get(value.lower(), value)


class FocusProvider(BillingFileProvider):
    name = "focus"

    def __init__(
        self,
        refresh_interval: float,
        paths: Sequence[str],
        dimensions: Sequence[str],
        tag_keys: Sequence[str] = (),
    ) -> None:
        super().__init__(refresh_interval, paths, FocusLayout(dimensions, tag_keys))
