"""promcast exporter: cloud cost, utilisation and inventory metrics for Prometheus."""

__version__ = "0.1.0"
