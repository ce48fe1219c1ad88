"""promcast forecaster: forecasts, time to exhaustion and health written back as Prometheus series."""

from promcast_common.version import VERSION as __version__

__all__ = ["__version__"]
