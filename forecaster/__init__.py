"""promcast forecaster: forecasts, time to exhaustion and health written back as Prometheus series."""

# The folder is installed as promcast_forecaster; imported by its bare name (from the repository root) it
# would be a second copy of every module, with its own catalogue and registries.
if __name__ != "promcast_forecaster":
    raise ImportError(f"{__name__}: import this package as promcast_forecaster")

from promcast_common.version import VERSION as __version__

__all__ = ["__version__"]
