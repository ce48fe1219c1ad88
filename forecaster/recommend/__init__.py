"""Recommendations: right-sized instance types, idle and over-provisioned resources, and
commitment coverage, each with an estimated monthly saving and a confidence.

Modules: :mod:`.config` (the ``recommendations:`` section), :mod:`.catalog` (instance types and
prices), :mod:`.sizing`, :mod:`.idle`, :mod:`.commitments` (the analyses, on arrays),
:mod:`.runner` (reads Prometheus, runs them), :mod:`.report` (ranking, table, JSON/CSV, series),
:mod:`.cli` (``promcast-forecaster recommend``). Nothing here is imported by the package itself,
so the config module stays importable from :mod:`promcast_forecaster.config`.
"""
