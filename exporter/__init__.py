"""promcast exporter: cloud cost, utilisation and inventory metrics for Prometheus."""

from exporter.core.version import VERSION as __version__

__all__ = ["__version__"]
