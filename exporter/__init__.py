"""promcast exporter: cloud cost, utilisation and inventory metrics for Prometheus."""

# The folder is installed as promcast_exporter; imported by its bare name (from the repository root) it
# would be a second copy of every module, with its own catalogue and registries.
if __name__ != "promcast_exporter":
    raise ImportError(f"{__name__}: import this package as promcast_exporter")

from promcast_common.version import VERSION as __version__

__all__ = ["__version__"]
