"""promcast exporter: cloud cost, utilisation and inventory metrics for Prometheus."""

from promcast_common.version import VERSION as __version__

__all__ = ["__version__"]
