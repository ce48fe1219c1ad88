"""Forecasting and scoring series from CSV files, without Prometheus.

:mod:`.series` reads a long CSV and snaps each series onto its own grid, :mod:`.forecast`
forecasts those grids the way the service does (a series that breaks its model never affects the
others), :mod:`.output` writes CSV results; :mod:`.cli` is the ``promcast-forecaster offline``
command, and ``promcast-forecaster anomalies`` and the benchmarks read their input through
:mod:`.series` too.
"""
