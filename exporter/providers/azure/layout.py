"""Azure's FOCUS rows: the focus layout, in US dollars whatever the billing currency.

Azure bills many accounts in EUR, GBP, ...; the focus layout refuses those rows (the cost series
are in USD). Azure's FOCUS export also carries each amount converted to dollars
(``x_BilledCostInUsd``, ``x_EffectiveCostInUsd``, ``x_ListCostInUsd``): when all three are
present they stand in for BilledCost, EffectiveCost and ListCost, so every row counts.
"""

from __future__ import annotations

from typing import Sequence

from promcast_exporter.billing.files import find_column
from promcast_exporter.billing.ledger import FuncBinding
from promcast_exporter.providers.focus.provider import FocusLayout

USD_COLUMNS = {
    "BilledCost": "x_BilledCostInUsd",
    "EffectiveCost": "x_EffectiveCostInUsd",
    "ListCost": "x_ListCostInUsd",
}
_HIDDEN = "\0"  # prefixes a header name so that no FOCUS column name matches it


class AzureFocusLayout:
    def __init__(self, dimensions: Sequence[str], tag_keys: Sequence[str] = ()) -> None:
        self.focus = FocusLayout(dimensions, tag_keys)
        self.labels = self.focus.labels
        self.cost_types = self.focus.cost_types

    def bind(self, header: list[str], notes: list[str]) -> FuncBinding:
        usd = {focus: find_column(header, x) for focus, x in USD_COLUMNS.items()}
        if not all(usd.values()):
            return self.focus.bind(header, notes)
        # The focus layout sees the dollar columns under the FOCUS names, and neither the
        # billing-currency amounts nor BillingCurrency (every amount it reads is in USD).
        hidden = {find_column(header, c) for c in (*USD_COLUMNS, "BillingCurrency")} - {None}
        rename = {col: focus for focus, col in usd.items()}
        view = [rename.get(h) or (_HIDDEN + h if h in hidden else h) for h in header]
        inner: list[str] = []
        binding = self.focus.bind(view, inner)
        notes += [n for n in inner if "BillingCurrency" not in n]
        original = dict(zip(view, header))
        return FuncBinding([original[c] for c in binding.columns], binding.parse, binding.identity)
