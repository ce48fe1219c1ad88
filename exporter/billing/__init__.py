"""Reading billing files (FOCUS, CUR, cloud exports): storage, cells, and the ledger that turns
charges into hourly-rate and month-to-date cost series. Each file format supplies a layout."""
