"""The ``azure`` provider: spend from Azure Cost Management FOCUS exports (local directories).

The rows are FOCUS 1.0 plus Azure's ``x_`` columns, read by the focus layout and ledger (amounts
in dollars from the ``x_*InUsd`` columns, :mod:`.layout`); what differs is which files are read
(:mod:`.exports`: the newest complete run of each billing period).
"""

from __future__ import annotations

from typing import Sequence

from promcast_exporter.billing.ledger import BillingFileProvider

from .exports import ExportStorage
from .layout import AzureFocusLayout


class AzureExportProvider(BillingFileProvider):
    name = "azure"

    def __init__(
        self,
        refresh_interval: float,
        paths: Sequence[str],
        dimensions: Sequence[str],
        tag_keys: Sequence[str] = (),
    ) -> None:
        super().__init__(refresh_interval, paths, AzureFocusLayout(dimensions, tag_keys))
        self.storage = ExportStorage(self.count_call, self.name)
