"""Capacity and cost reports for people: one self-contained HTML file and a PDF of it.

``reader`` asks Prometheus (or a compatible API) for what the exporter and the forecaster
publish over a period, ``model`` holds the report's content, ``build`` turns query answers into
that content, ``plots`` draws its pictures, ``render`` writes HTML (Jinja2) and PDF (headless
Chromium), ``schedule`` writes reports on an interval and delivers them. Not to be confused with
``promcast_forecaster.recommend.report``, which publishes recommendations as series.
"""
