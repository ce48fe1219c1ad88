"""Grafana dashboards as code: ``*.dashboard.py`` sources, the house style, the generator."""
