"""What the exporter and the forecaster share: catalogue, config, HTTP server, logging."""

# The folder is installed as promcast_common; imported by its bare name (from the repository root) it
# would be a second copy of every module, with its own catalogue and registries.
if __name__ != "promcast_common":
    raise ImportError(f"{__name__}: import this package as promcast_common")
