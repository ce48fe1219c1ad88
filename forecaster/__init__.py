"""promcast forecaster: forecasts, time to exhaustion and health written back as Prometheus series."""

__version__ = "0.1.0"
